/**
 * The `progress` option: a callback fed (done, total) with `done` never
 * decreasing and a final (total, total); or, for `true`, a cli-progress bar
 * on stderr when stderr is a terminal, and plain periodic lines elsewhere
 * (CI logs, `| tee`, a notebook), in joblib's shape:
 * `[larder/parallel] Done 4 out of 10 | elapsed: 1.2s remaining: 1.8s`.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type cliProgress from 'cli-progress';
import type { ProgressCallback } from './options.js';
import { endsLine, writeOutput, type TaskOutput } from './task-output.js';
import { formatSeconds } from './verbose.js';

/**
 * cli-progress, loaded on the first bar: every worker thread evaluates this
 * package (a task module imports `tasks` from it), and none draws a bar.
 */
function loadCliProgress(): typeof cliProgress {
  return createRequire(import.meta.url)('cli-progress') as typeof cliProgress;
}

/** Plain lines: at least this far apart, and one whenever this much more of the total is done or this long has passed. */
const LINE_MIN_INTERVAL_MS = 1_000;
const LINE_FRACTION = 0.1;
const LINE_MAX_INTERVAL_MS = 30_000;

/** Feeds one call's progress to a callback, a terminal bar, or plain lines. */
export class ProgressReporter {
  #bar: cliProgress.SingleBar | undefined;
  #lines: PlainLines | undefined;
  #lastDone = -1;
  readonly #callback: ProgressCallback | undefined;

  constructor(progress: boolean | ProgressCallback, total: number | undefined) {
    if (typeof progress === 'function') this.#callback = progress;
    else if (progress && process.stderr.isTTY) {
      const bars = loadCliProgress();
      this.#bar = new bars.SingleBar(
        { stream: process.stderr, format: '[larder/parallel] {bar} {value}/{total} tasks | {duration_formatted} elapsed | eta {eta_formatted}', hideCursor: true },
        bars.Presets.shades_classic,
      );
      this.#bar.start(total ?? 0, 0);
    } else if (progress) this.#lines = new PlainLines();
  }

  /** Reports `done` of `total` (undefined while unknown). */
  update(done: number, total: number | undefined): void {
    if (done < this.#lastDone) return;
    this.#lastDone = done;
    this.#callback?.(done, total);
    this.#lines?.update(done, total);
    if (this.#bar) {
      if (total !== undefined) this.#bar.setTotal(total);
      else this.#bar.setTotal(Math.max(done, 1));
      this.#bar.update(done);
    }
  }

  /**
   * Prints tasks' output above the bar: the bar's line is cleared, the
   * output written (its last line completed), and the bar drawn again below.
   */
  writeOutput(output: readonly TaskOutput[]): void {
    const bar = this.#bar;
    if (!bar) return writeOutput(output);
    process.stderr.write('\r\x1b[2K');
    writeOutput(output);
    const last = output[output.length - 1];
    if (last && !endsLine(last.data)) process[last.stream].write('\n');
    // Forced: the bar's text has not changed, but its line was just cleared.
    (bar as unknown as { render(force: boolean): void }).render(true);
  }

  /** Ends the report: a final (total, total) when the call completed. */
  finish(total: number | undefined): void {
    if (total !== undefined && this.#lastDone !== total) this.update(total, total);
    else if (total !== undefined && this.#lastDone === total && this.#callback === undefined) this.#bar?.update(total);
    if (total !== undefined) this.#lines?.finish(total);
    this.#lines = undefined;
    this.#bar?.stop();
    this.#bar = undefined;
  }
}

/** joblib-shaped progress lines on stderr, paced so a long run prints a few dozen, not thousands. */
class PlainLines {
  readonly #start = performance.now();
  #lastLineAt = -Infinity;
  #lastLineDone = 0;

  update(done: number, total: number | undefined): void {
    const now = performance.now();
    if (now - this.#lastLineAt < LINE_MIN_INTERVAL_MS || (total !== undefined && done >= total)) return;
    const step = total === undefined ? Math.max(1, this.#lastLineDone) : Math.max(1, total * LINE_FRACTION);
    if (done - this.#lastLineDone < step && now - this.#lastLineAt < LINE_MAX_INTERVAL_MS) return;
    this.#write(done, total, now);
  }

  finish(total: number): void {
    this.#write(total, total, performance.now(), true);
  }

  #write(done: number, total: number | undefined, now: number, finished = false): void {
    this.#lastLineAt = now;
    this.#lastLineDone = done;
    const elapsed = (now - this.#start) / 1000;
    let line = total === undefined ? `Done ${done} tasks | elapsed: ${formatSeconds(elapsed)}` : `Done ${done} out of ${total} | elapsed: ${formatSeconds(elapsed)}`;
    if (finished) line += ' finished';
    else if (total !== undefined && done > 0) line += ` remaining: ${formatSeconds((elapsed / done) * (total - done))}`;
    process.stderr.write(`[larder/parallel] ${line}\n`);
  }
}
