/**
 * The one interface every backend implements. The dispatcher forms batches
 * of calls to one task and hands them over; a backend runs them and returns
 * their results in order, or rejects with the error of the first failing
 * task (its `taskIndex` set).
 */
import type { BackendName } from '../options.js';
import type { FileShares } from '../share-files.js';
import type { SharedCopies } from '../share-guard.js';
import type { AnyFunction } from '../tasks.js';
import type { OutputSink } from '../task-output.js';

/** Consecutive calls of one task. */
export interface Batch {
  task: AnyFunction;
  /** 'single': each payload entry is the one argument (map). 'spread': each is an argument list (run). */
  mode: 'single' | 'spread';
  payload: unknown[];
  /** Task index (input order) of payload[0]. */
  firstIndex: number;
}

/** What a batch gave. */
export interface BatchOutcome {
  results: unknown[];
  /** Time spent running the batch's tasks, ms (drives auto batching). */
  durationMs: number;
}

/** Per-call context a backend runs batches under. */
export interface BatchContext {
  /** Aborted when the call stops (error elsewhere, abort, early return). Read it here; to be told, use onStop. */
  signal: AbortSignal;
  /**
   * Calls `listener` once when the call stops (at once if it already has):
   * stop this batch. Returns what unsubscribes it when the batch ends first.
   */
  onStop(listener: () => void): () => void;
  /** Per task, from its start, ms. */
  timeout: number | undefined;
  /** Typed arrays above this many bytes go through shared memory (threads only). */
  maxNbytes: number;
  /** Shared copies made so far in this call, with their digests. */
  sharedCopies: SharedCopies;
  /** Mapped arrays sent as file references in this call; their descriptors close when the call ends. */
  fileShares: FileShares;
  /** Prints what a batch's tasks wrote in a worker (above the progress bar, if any), before its results are delivered. */
  writeOutput: OutputSink;
}

/** Batch durations auto batching keeps between (ms): faster batches grow, slower ones shrink, toward `target`. */
export interface BatchWindow {
  min: number;
  max: number;
  target: number;
}

/** A place that runs batches. */
export interface Backend {
  readonly name: BackendName;
  /** How many tasks run at once. */
  readonly workers: number;
  /** Most batches worth having in flight at once (threads: more than workers, to hide message latency). */
  readonly maxInFlight: number;
  /** Whether batch sizes should be tuned ('auto'); in-process backends gain nothing from batching. */
  readonly batches: boolean;
  /** Throws when this backend cannot run `task` (a plain function on threads). */
  check(task: AnyFunction, where: string): void;
  /** Where auto batching aims a batch's duration, when it differs from the threads' window (a remote job costs milliseconds, not microseconds). */
  readonly batchWindow?: BatchWindow;
  run(batch: Batch, context: BatchContext): Promise<BatchOutcome>;
  /** Called once when a call that ran batches here has ended and none of them is in flight: release what the call left (transfer objects). */
  endCall?(context: BatchContext): Promise<void>;
  close(): Promise<void>;
}
