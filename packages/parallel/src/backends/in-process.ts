/**
 * The two backends that run in this thread: 'sequential' (one task at a time)
 * and 'async' (nJobs tasks at a time, for functions that wait on I/O).
 * Both accept any function; the dispatcher keeps `workers` batches in flight.
 */
import { performance } from 'node:perf_hooks';
import { AbortError, inProcessTaskError, TimeoutError } from '../errors.js';
import type { BackendName } from '../options.js';
import { isThenable, type Call } from '../tasks.js';
import type { Backend, Batch, BatchContext, BatchOutcome } from './backend.js';

/** Runs batches in the calling thread, `workers` batches at once. */
export class InProcessBackend implements Backend {
  readonly batches = false;
  readonly maxInFlight: number;
  #init: Promise<unknown> | undefined;

  constructor(
    readonly name: Extract<BackendName, 'async' | 'sequential'>,
    readonly workers: number,
    /** workerInit: this thread is the one worker, so it runs once here, before the first task. */
    readonly workerInit?: Call,
  ) {
    this.maxInFlight = workers;
  }

  check(): void {
    // Any function runs in-process.
  }

  async run(batch: Batch, context: BatchContext): Promise<BatchOutcome> {
    if (this.workerInit) await (this.#init ??= Promise.resolve(this.workerInit.task(...this.workerInit.args)));
    const start = performance.now();
    const results = new Array<unknown>(batch.payload.length);
    for (let i = 0; i < batch.payload.length; i++) {
      if (context.signal.aborted) throw new AbortError(context.signal.reason);
      const taskIndex = batch.firstIndex + i;
      const input = batch.payload[i];
      try {
        const value = batch.mode === 'single' ? batch.task(input) : batch.task(...(input as unknown[]));
        results[i] = isThenable(value) ? await settle(value, taskIndex, batch.task.name, context) : value;
      } catch (error) {
        throw inProcessTaskError(error, taskIndex);
      }
    }
    return { results, durationMs: performance.now() - start };
  }

  async close(): Promise<void> {
    // Nothing to release.
  }
}

// A running in-process function cannot be stopped; timeout and abort make
// the call reject at once and the function's eventual result is dropped.
function settle(value: PromiseLike<unknown>, taskIndex: number, taskName: string, context: BatchContext): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = context.timeout === undefined ? undefined : setTimeout(() => reject(new TimeoutError(taskIndex, context.timeout!, taskName)), context.timeout);
    const unsubscribe = context.onStop(() => reject(new AbortError(context.signal.reason)));
    Promise.resolve(value)
      .then(resolve, reject)
      .finally(() => {
        clearTimeout(timer);
        unsubscribe();
      });
  });
}
