/**
 * joblib's progress lines, with joblib's pacing (Parallel.print_progress and
 * _verbosity_filter), written to stderr below verbose 50 and to stdout at 50
 * and above, as joblib does.
 */
import { performance } from 'node:perf_hooks';

/** joblib's short_format_time, without its column padding. */
export function formatSeconds(seconds: number): string {
  return seconds > 60 ? `${(seconds / 60).toFixed(1)}min` : `${seconds.toFixed(1)}s`;
}

// joblib: print only when the square-root-scaled index crosses an integer,
// so lines thin out as a long run goes on; every batch above verbose 10.
function skipLine(index: number, verbose: number): boolean {
  if (!verbose) return true;
  if (verbose > 10 || index === 0) return false;
  const scale = 0.5 * (11 - verbose) ** 2;
  return Math.floor(Math.sqrt(index / scale)) === Math.floor(Math.sqrt((index + 1) / scale));
}

/** Writes the `[Parallel(nJobs=2)]: ...` lines of one call. */
export class VerboseReporter {
  readonly #start = performance.now();
  readonly #write: (line: string) => void;
  #batches = 0;

  constructor(
    readonly verbose: number,
    readonly nJobs: number,
    readonly preDispatch: number,
    backendName: string,
    workers: number,
  ) {
    const stream = verbose >= 50 ? process.stdout : process.stderr;
    this.#write = (line) => void stream.write(`[Parallel(nJobs=${nJobs})]: ${line}\n`);
    this.#write(`Using backend ${backendName} with ${workers} concurrent worker${workers === 1 ? '' : 's'}.`);
  }

  /**
   * After each completed batch. `total` is known for arrays, and for
   * iterables once exhausted; until then joblib's "Done N tasks" lines.
   */
  update(done: number, total: number | undefined): void {
    const elapsed = (performance.now() - this.#start) / 1000;
    const batchIndex = this.#batches++;
    if (total === undefined) {
      if (skipLine(batchIndex, this.verbose)) return;
      this.#write(`Done ${done} tasks | elapsed: ${formatSeconds(elapsed)}`);
      return;
    }
    if (done !== 0) {
      // joblib's cursor: one line every total/verbose tasks, counted from
      // the end of dispatch, and none for the last task (finish() prints it).
      const preDispatch = Number.isFinite(this.preDispatch) ? this.preDispatch : 0;
      const cursor = total - done + 1 - preDispatch;
      const frequency = Math.floor(total / this.verbose) + 1;
      if (done + 1 >= total || cursor % frequency !== 0) return;
    }
    const remaining = done === 0 ? 0 : (elapsed / done) * (total - done);
    this.#write(`Done ${done} out of ${total} | elapsed: ${formatSeconds(elapsed)} remaining: ${formatSeconds(remaining)}`);
  }

  /** The closing line. */
  finish(done: number, total: number): void {
    const elapsed = (performance.now() - this.#start) / 1000;
    this.#write(`Done ${done} out of ${total} | elapsed: ${formatSeconds(elapsed)} finished`);
  }
}
