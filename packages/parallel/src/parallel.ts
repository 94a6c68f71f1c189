/**
 * `Parallel`, joblib's Parallel: a pool that maps tasks over items, runs
 * `delayed()` calls, or streams their results; `parallel()` is the one-shot
 * form. Validation happens here, once; dispatch.ts does the rest.
 */
import type { Backend } from './backends/backend.js';
import { InProcessBackend } from './backends/in-process.js';
import { BullmqBackend } from './backends/bullmq.js';
import { ThreadsBackend } from './backends/threads.js';
import { Dispatch, type Sink } from './dispatch.js';
import { formatValue, ParallelError } from './errors.js';
import { Input, type Items } from './input.js';
import { CALL_OPTION_NAMES, checkTask, optionsObject, POOL_OPTION_NAMES, resolveCallSettings, resolvePoolSettings, type BackendName, type CallOptions, type CallSettings, type ParallelOptions, type PoolSettings } from './options.js';
import type { AnyFunction, Call } from './tasks.js';
import { Wakeup } from './wakeup.js';

/** What a task resolves to. */
export type TaskResult<F extends AnyFunction> = Awaited<ReturnType<F>>;
/** What a `delayed()` call resolves to. */
export type CallResult<C extends Call> = TaskResult<C['task']>;

/** Options of `iterate()`. */
const ITERATE_OPTION_NAMES = [...CALL_OPTION_NAMES, 'ordered'] as const;

export interface IterateOptions extends CallOptions {
  /**
   * true: results in input order (joblib return_as='generator'); false: in
   * completion order (return_as='generator_unordered').
   * @default true
   */
  ordered?: boolean;
}

// iterate(): results a slow consumer has not taken yet, beyond which
// dispatch pauses, so memory stays bounded.
const ITERATE_HIGH_WATER = 1024;

// parallel() maps through its pool under its own name, so errors say
// `parallel(): ...` rather than `map(): ...`; set by Parallel's static block.
let mapAs: (pool: Parallel, where: string, task: AnyFunction, items: Items<unknown>) => Promise<unknown[]>;

/**
 * A pool of workers (threads by default) reused across calls.
 *
 * @example
 * ```ts
 * import { Parallel, delayed } from '@larder/parallel';
 * import { square } from './tasks.js'; // export const { square } = tasks(import.meta.url, { square })
 * await using pool = new Parallel({ nJobs: 2 });
 * const squares = await pool.map(square, [0, 1, 2, 3, 4]); // [0, 1, 4, 9, 16]
 * const again = await pool.run([3, 4].map((x) => delayed(square)(x)));
 * for await (const value of pool.iterate([delayed(square)(5)], { ordered: false })) console.log(value);
 * ```
 */
export class Parallel {
  /** Workers (or concurrent calls, for 'async') this pool uses. */
  readonly nJobs: number;
  /** The backend asked for. With nJobs 1, 'threads' runs in-process. */
  readonly backend: BackendName;
  readonly #settings: PoolSettings;
  readonly #defaults: CallOptions;
  /** The pool's call options resolved once: what a call without overrides uses. */
  readonly #callSettings: CallSettings;
  #engine: Backend | undefined;
  #closed = false;

  static {
    mapAs = (pool, where, task, items) => pool.#map(where, task, items, undefined);
  }

  constructor(options?: ParallelOptions) {
    options = optionsObject('new Parallel()', options, POOL_OPTION_NAMES);
    this.#settings = resolvePoolSettings(options);
    this.nJobs = this.#settings.nJobs;
    this.backend = this.#settings.backend;
    const { batchSize, preDispatch, timeout, maxNbytes, verbose, progress, signal } = options;
    this.#defaults = { batchSize, preDispatch, timeout, maxNbytes, verbose, progress, signal };
    // Bad options fail here, not at the first call; a call that overrides
    // nothing reuses these instead of parsing '2*nJobs' and '1M' again.
    this.#callSettings = resolveCallSettings(this.#defaults, this.nJobs);
    // Threads start now, so workers boot while the caller prepares input.
    if (this.backend === 'threads' && (this.nJobs > 1 || this.#settings.resourceLimits)) this.#backendEngine();
  }

  /**
   * Calls `task(item)` for each item; results in input order.
   *
   * @example
   * ```ts
   * await using pool = new Parallel();
   * const lengths = await pool.map(measure, ['a.csv', 'b.csv']);
   * ```
   */
  async map<F extends AnyFunction>(task: F, items: Items<Parameters<F>[0]>, options?: CallOptions): Promise<TaskResult<F>[]> {
    return (await this.#map('map()', task, items, options)) as TaskResult<F>[];
  }

  /**
   * Runs `delayed()` calls; results in input order.
   *
   * @example
   * ```ts
   * await using pool = new Parallel({ nJobs: 2 });
   * const [a, b] = await pool.run([delayed(convolve)(signalA, kernel), delayed(convolve)(signalB, kernel)]);
   * ```
   */
  async run<C extends Call>(calls: Iterable<C> | AsyncIterable<C>, options?: CallOptions): Promise<CallResult<C>[]> {
    const callOptions = optionsObject('run()', options, CALL_OPTION_NAMES);
    return (await this.#collect(new Input(calls, undefined, 'run()'), callOptions)) as CallResult<C>[];
  }

  /**
   * Streams the results of `delayed()` calls as they complete: input order
   * by default, completion order with `{ ordered: false }`. Leaving the loop
   * early stops the remaining tasks.
   *
   * @example
   * ```ts
   * await using pool = new Parallel({ nJobs: 2 });
   * for await (const result of pool.iterate(jobs.map((j) => delayed(simulate)(j)), { ordered: false })) save(result);
   * ```
   */
  async *iterate<C extends Call>(calls: Iterable<C> | AsyncIterable<C>, options?: IterateOptions): AsyncGenerator<CallResult<C>, void, undefined> {
    const { ordered = true, ...callOptions } = optionsObject('iterate()', options, ITERATE_OPTION_NAMES);
    if (typeof ordered !== 'boolean') throw new ParallelError('LARDER_OPTION', `iterate(): ordered must be a boolean, got ${formatValue(ordered)}`);
    const input = new Input(calls, undefined, 'iterate()');
    const buffered = new Map<number, unknown>();
    const queue: unknown[] = [];
    let nextIndex = 0;
    const consumer = new Wakeup();
    const sink: Sink = {
      deliver(firstIndex, results) {
        if (ordered) for (let i = 0; i < results.length; i++) buffered.set(firstIndex + i, results[i]);
        else queue.push(...results);
        consumer.wake();
      },
      wantsMore: () => (ordered ? buffered.size : queue.length) < ITERATE_HIGH_WATER,
    };
    const dispatch = this.#dispatch(input, callOptions, sink);
    let outcome: { error: unknown } | 'done' | undefined;
    const running = dispatch.run().then(
      () => void (outcome = 'done'),
      (error: unknown) => void (outcome = { error }),
    );
    void running.finally(() => consumer.wake());
    try {
      for (;;) {
        if (ordered) {
          while (buffered.has(nextIndex)) {
            const value = buffered.get(nextIndex);
            buffered.delete(nextIndex++);
            dispatch.wake();
            yield value as CallResult<C>;
          }
        } else {
          while (queue.length > 0) {
            const value = queue.shift();
            dispatch.wake();
            yield value as CallResult<C>;
          }
        }
        if (typeof outcome === 'object') throw outcome.error;
        if (outcome === 'done' && buffered.size === 0 && queue.length === 0) return;
        await consumer.wait();
      }
    } finally {
      if (outcome === undefined) dispatch.cancel(new ParallelError('LARDER_CLOSED', 'iterate() was left before its end; remaining tasks were stopped'));
      await running;
    }
  }

  /**
   * Stops the workers. Pending calls are rejected. Also run by `await using`.
   *
   * @example
   * ```ts
   * const pool = new Parallel();
   * try { await pool.map(task, items); } finally { await pool.close(); }
   * ```
   */
  async close(): Promise<void> {
    this.#closed = true;
    const engine = this.#engine;
    this.#engine = undefined;
    await engine?.close();
  }

  /** `await using pool = new Parallel()` closes the pool at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** map() and parallel(): `where` names the entry the caller used, for error messages. */
  async #map(where: string, task: AnyFunction, items: Items<unknown>, options: CallOptions | undefined): Promise<unknown[]> {
    checkTask(where, task);
    const callOptions = optionsObject(where, options, CALL_OPTION_NAMES);
    this.#backendEngine().check(task, where);
    return this.#collect(new Input(items, task, where), callOptions);
  }

  async #collect(input: Input, options: CallOptions): Promise<unknown[]> {
    const results: unknown[] = input.total === undefined ? [] : new Array<unknown>(input.total);
    const sink: Sink = {
      deliver(firstIndex, values) {
        for (let i = 0; i < values.length; i++) results[firstIndex + i] = values[i];
      },
      wantsMore: () => true,
    };
    await this.#dispatch(input, options, sink).run();
    return results;
  }

  #dispatch(input: Input, options: CallOptions, sink: Sink): Dispatch {
    const settings = hasOverrides(options) ? resolveCallSettings({ ...this.#defaults, ...definedOnly(options) }, this.nJobs) : this.#callSettings;
    return new Dispatch(input, this.#backendEngine(), settings, sink, this.nJobs);
  }

  #backendEngine(): Backend {
    if (this.#closed) throw new ParallelError('LARDER_CLOSED', 'this Parallel was closed; create a new one');
    if (this.#engine) return this.#engine;
    const { backend, nJobs, workerInit, resourceLimits } = this.#settings;
    // resourceLimits can only bound a worker: with them, nJobs 1 runs in one worker, so a task out of memory cannot kill this process.
    if (backend === 'threads' && (nJobs > 1 || resourceLimits)) this.#engine = new ThreadsBackend(nJobs, workerInit, resourceLimits);
    else if (backend === 'bullmq') this.#engine = new BullmqBackend(nJobs, this.#settings.remote!);
    else if (backend === 'async') this.#engine = new InProcessBackend('async', nJobs, workerInit);
    else this.#engine = new InProcessBackend('sequential', 1, workerInit);
    return this.#engine;
  }
}

function hasOverrides(options: CallOptions): boolean {
  for (const key in options) if (options[key as keyof CallOptions] !== undefined) return true;
  return false;
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * One-shot `Parallel`: maps `task` over `items` and closes the pool.
 *
 * @example
 * ```ts
 * import { parallel } from '@larder/parallel';
 * import { square } from './tasks.js';
 * const squares = await parallel(square, [0, 1, 2, 3, 4], { nJobs: 2 }); // [0, 1, 4, 9, 16]
 * ```
 */
export async function parallel<F extends AnyFunction>(task: F, items: Items<Parameters<F>[0]>, options?: ParallelOptions): Promise<TaskResult<F>[]> {
  // Checked before the pool exists, so a wrong task or options start no threads.
  checkTask('parallel()', task);
  const pool = new Parallel(optionsObject('parallel()', options, POOL_OPTION_NAMES));
  try {
    return (await mapAs(pool, 'parallel()', task, items)) as TaskResult<F>[];
  } finally {
    await pool.close();
  }
}
