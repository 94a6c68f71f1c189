/**
 * The dispatcher: pulls input as batches are formed, keeps at most
 * `preDispatch` batches in flight (joblib: pre_dispatch tasks go out first,
 * then one batch per completed batch), delivers results, and on the first
 * error, abort or early return stops everything: no more dispatch, queued
 * batches cancelled, running ones stopped, the input iterator closed.
 */
import { AbortError } from './errors.js';
import { Batcher } from './batching.js';
import { closeFiles, fileShares } from './share-files.js';
import type { Backend, BatchContext } from './backends/backend.js';
import type { Input } from './input.js';
import type { CallSettings } from './options.js';
import { ProgressReporter } from './progress.js';
import { writeOutput } from './task-output.js';
import { VerboseReporter } from './verbose.js';
import { Wakeup } from './wakeup.js';

/** Where results go, batch by batch. */
export interface Sink {
  deliver(firstIndex: number, results: unknown[]): void;
  /** False while the consumer is behind (iterate): dispatch waits. */
  wantsMore(): boolean;
}

/** One call in progress. */
export class Dispatch {
  readonly #stop = new AbortController();
  readonly #stopListeners = new Set<() => void>();
  readonly #context: BatchContext;
  readonly #batcher: Batcher;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #maxInFlight: number;
  readonly #progress: ProgressReporter | undefined;
  readonly #verbose: VerboseReporter | undefined;
  #failure: { error: unknown } | undefined;
  #dispatched = 0;
  #done = 0;
  readonly #wakeup = new Wakeup();

  constructor(
    readonly input: Input,
    readonly backend: Backend,
    readonly settings: CallSettings,
    readonly sink: Sink,
    nJobs: number,
  ) {
    // Each batch in flight wants to hear when the call stops. One listener on
    // the signal tells them all: a listener per batch would pass Node's
    // limit of 10 and print a MaxListenersExceededWarning on a plain call.
    this.#stop.signal.addEventListener('abort', () => this.#notifyStop(), { once: true });
    this.#context = {
      signal: this.#stop.signal,
      onStop: (listener) => this.#onStop(listener),
      timeout: settings.timeout,
      maxNbytes: settings.maxNbytes,
      sharedCopies: new Map(),
      fileShares: fileShares(),
      writeOutput: (output) => (this.#progress ? this.#progress.writeOutput(output) : writeOutput(output)),
    };
    this.#batcher = new Batcher(settings.batchSize, backend.workers, backend.batches, backend.batchWindow);
    this.#maxInFlight = Math.max(1, Math.min(settings.preDispatch, backend.maxInFlight));
    if (settings.progress !== false) this.#progress = new ProgressReporter(settings.progress, input.total);
    if (settings.verbose > 0) this.#verbose = new VerboseReporter(settings.verbose, nJobs, settings.preDispatch, backend.name, backend.workers);
  }

  /** Wakes the loop (the consumer took results). */
  wake(): void {
    this.#wakeup.wake();
  }

  /** Stops the call from outside (consumer left early). */
  cancel(reason: unknown): void {
    this.#fail(reason);
  }

  /** Runs the call to the end; rejects with the first error. */
  async run(): Promise<void> {
    const signal = this.settings.signal;
    const onAbort = (): void => this.#fail(new AbortError(signal!.reason));
    if (signal?.aborted) throw new AbortError(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        while (!this.#failure && !this.input.done && this.#inFlight.size < this.#maxInFlight && this.sink.wantsMore()) {
          const remaining = this.input.total === undefined ? undefined : this.input.total - this.#dispatched;
          const size = this.#batcher.next(remaining);
          let chunk;
          try {
            chunk = await this.input.take(size);
          } catch (error) {
            this.#fail(error); // the iterator's own error, passed on as is
            break;
          }
          if (!chunk) break;
          if (!this.#failure) this.#launch(chunk.task, chunk.mode, chunk.payload);
        }
        if (this.#failure) throw this.#failure.error;
        if (this.input.done && this.#inFlight.size === 0) break;
        await this.#wakeup.wait();
      }
      const total = this.input.total ?? this.#done;
      this.#progress?.finish(total);
      this.#verbose?.finish(this.#done, total);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#stop.abort(this.#failure?.error ?? 'call finished');
      await Promise.allSettled(this.#inFlight);
      // Every worker that received a mapped argument has mapped it by now (or was stopped).
      closeFiles(this.#context.fileShares);
      if (this.#dispatched > 0) await this.backend.endCall?.(this.#context);
      await this.input.close();
      this.#progress?.finish(undefined);
    }
  }

  #launch(task: Parameters<Backend['check']>[0], mode: 'single' | 'spread', payload: unknown[]): void {
    const firstIndex = this.#dispatched;
    this.#dispatched += payload.length;
    try {
      this.backend.check(task, `task ${firstIndex}`);
    } catch (error) {
      this.#fail(error);
      return;
    }
    const promise = this.backend.run({ task, mode, payload, firstIndex }, this.#context).then(
      (outcome) => {
        this.#inFlight.delete(promise);
        if (this.#failure) return;
        // This handler's promise has already left #inFlight, so nothing
        // awaits it: an error thrown here (a progress callback that throws,
        // a verbose line that cannot be written) would be an unhandled
        // rejection and the call would never settle. It fails the call
        // instead, like a task error.
        try {
          this.#batcher.record(payload.length, outcome.durationMs);
          this.#done += outcome.results.length;
          this.sink.deliver(firstIndex, outcome.results);
          this.#progress?.update(this.#done, this.input.total);
          this.#verbose?.update(this.#done, this.input.total);
        } catch (error) {
          this.#fail(error);
          return;
        }
        this.wake();
      },
      (error: unknown) => {
        this.#inFlight.delete(promise);
        this.#fail(error);
      },
    );
    this.#inFlight.add(promise);
  }

  #onStop(listener: () => void): () => void {
    if (this.#stop.signal.aborted) {
      listener();
      return () => {};
    }
    this.#stopListeners.add(listener);
    return () => this.#stopListeners.delete(listener);
  }

  #notifyStop(): void {
    const listeners = [...this.#stopListeners];
    this.#stopListeners.clear();
    for (const listener of listeners) listener();
  }

  // The first failure wins; later ones (other batches stopped because of
  // it) are consequences, not news.
  #fail(error: unknown): void {
    if (!this.#failure) {
      this.#failure = { error };
      this.#stop.abort(error);
    }
    this.wake();
  }
}
