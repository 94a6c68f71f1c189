/**
 * The `progress` option: a callback fed (done, total) with `done` never
 * decreasing and a final (total, total), or a cli-progress bar on stderr
 * when stderr is a terminal (silent otherwise, so logs stay clean).
 */
import cliProgress from 'cli-progress';
import type { ProgressCallback } from './options.js';

/** Feeds one call's progress to a callback or a terminal bar. */
export class ProgressReporter {
  #bar: cliProgress.SingleBar | undefined;
  #lastDone = -1;
  readonly #callback: ProgressCallback | undefined;

  constructor(progress: boolean | ProgressCallback, total: number | undefined) {
    if (typeof progress === 'function') this.#callback = progress;
    else if (progress && process.stderr.isTTY) {
      this.#bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: '[larder/parallel] {bar} {value}/{total} tasks | {duration_formatted} elapsed | eta {eta_formatted}', hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      this.#bar.start(total ?? 0, 0);
    }
  }

  /** Reports `done` of `total` (undefined while unknown). */
  update(done: number, total: number | undefined): void {
    if (done < this.#lastDone) return;
    this.#lastDone = done;
    this.#callback?.(done, total);
    if (this.#bar) {
      if (total !== undefined) this.#bar.setTotal(total);
      else this.#bar.setTotal(Math.max(done, 1));
      this.#bar.update(done);
    }
  }

  /** Ends the report: a final (total, total) when the call completed. */
  finish(total: number | undefined): void {
    if (total !== undefined && this.#lastDone !== total) this.update(total, total);
    else if (total !== undefined && this.#lastDone === total && this.#callback === undefined) this.#bar?.update(total);
    this.#bar?.stop();
    this.#bar = undefined;
  }
}
