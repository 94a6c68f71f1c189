/**
 * The input side: arrays, iterables and async iterables, pulled only when a
 * batch is formed, so a generator of a million items is never drained ahead
 * of dispatch. An error thrown by the iterator reaches the caller as itself.
 */
import { formatValue, ParallelError } from './errors.js';
import { isCall, type AnyFunction } from './tasks.js';

/** Items for `map`, or `delayed()` calls for `run`/`iterate`. */
export type Items<T> = Iterable<T> | AsyncIterable<T> | ArrayLike<T>;

/** Consecutive input entries for one task. */
export interface Chunk {
  task: AnyFunction;
  mode: 'single' | 'spread';
  payload: unknown[];
}

/** Reads input in chunks. */
export class Input {
  /** The number of entries, when known (arrays, or once the iterator is exhausted). */
  total: number | undefined;
  done = false;
  #pulled = 0;
  #array: ArrayLike<unknown> | undefined;
  #sync: Iterator<unknown> | undefined;
  #async: AsyncIterator<unknown> | undefined;
  #peeked: { task: AnyFunction; value: unknown } | undefined;

  constructor(
    source: Items<unknown>,
    /** The task of every entry (map), or undefined when entries are calls (run). */
    readonly task: AnyFunction | undefined,
    /** The entry that received `source` (`map()`, `run()`), for error messages. */
    where: string,
  ) {
    if (isArrayLike(source)) {
      this.#array = source;
      this.total = source.length;
    } else if (typeof (source as Iterable<unknown>)?.[Symbol.iterator] === 'function') {
      this.#sync = (source as Iterable<unknown>)[Symbol.iterator]();
    } else if (typeof (source as AsyncIterable<unknown>)?.[Symbol.asyncIterator] === 'function') {
      this.#async = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    } else {
      const what = task ? 'items must be an array, an iterable or an async iterable' : 'calls must be an array, an iterable or an async iterable of delayed(task)(...args) calls';
      throw new ParallelError('LARDER_OPTION', `${where}: ${what}, got ${formatValue(source)}`);
    }
  }

  /** Up to `max` entries of one task; undefined when the input is exhausted. */
  async take(max: number): Promise<Chunk | undefined> {
    if (this.done) return undefined;
    if (this.#array && this.task) return this.#takeArray(max, this.task);
    const first = this.#peeked ?? (await this.#next());
    this.#peeked = undefined;
    if (!first) return undefined;
    const chunk: Chunk = { task: first.task, mode: this.task ? 'single' : 'spread', payload: [first.value] };
    while (chunk.payload.length < max) {
      const entry = await this.#next();
      if (!entry) break;
      if (entry.task !== chunk.task) {
        this.#peeked = entry;
        break;
      }
      chunk.payload.push(entry.value);
    }
    return chunk;
  }

  /** Closes a partly read iterator (its finally blocks run). */
  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      if (this.#sync) this.#sync.return?.();
      else if (this.#async) await this.#async.return?.();
    } catch {
      // The call already failed or finished; an error from closing the input adds nothing to that outcome.
    }
  }

  // Fast path for map over an array: one slice per batch.
  #takeArray(max: number, task: AnyFunction): Chunk | undefined {
    const array = this.#array!;
    const start = this.#pulled;
    const end = Math.min(array.length, start + max);
    this.#pulled = end;
    if (end >= array.length) this.#finish();
    if (end === start) return undefined;
    const payload = Array.isArray(array) ? array.slice(start, end) : Array.prototype.slice.call(array, start, end);
    return { task, mode: 'single', payload };
  }

  async #next(): Promise<{ task: AnyFunction; value: unknown } | undefined> {
    let value: unknown;
    if (this.#array) {
      if (this.#pulled >= this.#array.length) return this.#finish();
      value = this.#array[this.#pulled];
    } else {
      const step = this.#sync ? this.#sync.next() : await this.#async!.next();
      if (step.done) return this.#finish();
      value = step.value;
    }
    const index = this.#pulled++;
    if (this.task) return { task: this.task, value };
    if (!isCall(value)) {
      throw new ParallelError('LARDER_OPTION', `run()/iterate() entry ${index} is not a delayed(task)(...args) call, got ${value === null ? 'null' : typeof value}`, { taskIndex: index });
    }
    return { task: value.task, value: value.args };
  }

  #finish(): undefined {
    this.done = true;
    this.total = this.#pulled;
    return undefined;
  }
}

function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || ArrayBuffer.isView(value);
}
