/**
 * What tasks print in worker threads (console.log, process.stdout/stderr
 * writes, a cached function's verbose lines), carried to the caller's thread
 * with the batch's reply and printed there before the batch's results are
 * delivered.
 *
 * Node forwards a worker's stdout and stderr to the parent on their own
 * channel, unordered with the replies: lines arrived after `map()` had
 * resolved, and in the middle of a progress bar's line. Capturing them in the
 * worker and printing them from the reply orders them before the results and
 * lets the progress bar print them above itself.
 */

/** One write a task made, in order. */
export interface TaskOutput {
  stream: 'stdout' | 'stderr';
  /** As written: text, or bytes (copied: the writer may reuse its buffer). */
  data: string | Uint8Array;
}

/** Above this many characters or bytes in one batch, further writes go straight to Node's forwarding (unordered) rather than filling memory. */
export const MAX_CAPTURED_SIZE = 1 << 20;

type Write = (chunk: unknown, encoding?: unknown, callback?: unknown) => boolean;

/**
 * Captures this worker thread's process.stdout and process.stderr writes
 * while a batch runs. Installed once per worker thread (the streams are the
 * thread's own objects); outside a batch, writes pass through unchanged.
 */
export class OutputCapture {
  #captured: TaskOutput[] | undefined;
  #size = 0;

  constructor() {
    this.#wrap(process.stdout, 'stdout');
    this.#wrap(process.stderr, 'stderr');
  }

  /** Starts capturing for a batch. */
  start(): void {
    this.#captured = [];
    this.#size = 0;
  }

  /** Stops capturing; returns what the batch wrote (undefined when nothing, to keep replies small). */
  stop(): TaskOutput[] | undefined {
    const captured = this.#captured;
    this.#captured = undefined;
    return captured?.length ? captured : undefined;
  }

  #wrap(stream: NodeJS.WriteStream, name: TaskOutput['stream']): void {
    const original = stream.write.bind(stream) as Write;
    const capture: Write = (chunk, encoding, callback) => {
      const captured = this.#captured;
      if (captured === undefined || this.#size > MAX_CAPTURED_SIZE) return original(chunk, encoding, callback);
      const data =
        typeof chunk === 'string'
          ? typeof encoding === 'string' && encoding !== 'utf8' && encoding !== 'utf-8' && Buffer.isEncoding(encoding)
            ? new Uint8Array(Buffer.from(chunk, encoding))
            : chunk
          : new Uint8Array(chunk as Uint8Array);
      captured.push({ stream: name, data });
      this.#size += data.length;
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') queueMicrotask(() => (done as (error?: Error | null) => void)(null));
      return true;
    };
    (stream as unknown as { write: Write }).write = capture;
  }
}

/** Prints captured output in the caller's thread, to the stream each piece was written to. */
export type OutputSink = (output: readonly TaskOutput[]) => void;

/** The sink without a progress bar: each piece to its own stream, in order. */
export const writeOutput: OutputSink = (output) => {
  for (const { stream, data } of output) process[stream].write(data);
};

/** Whether a piece of output ends its line. */
export function endsLine(data: string | Uint8Array): boolean {
  return typeof data === 'string' ? data.endsWith('\n') : data[data.length - 1] === 10;
}
