/**
 * The messages between the threads backend and its workers. One piscina task
 * is one batch; the reply carries every result of the batch, or where and
 * why it stopped.
 */
import type { SerializedError } from './errors.js';
import type { TaskGuards } from './share-guard.js';
import type { TaskOutput } from './task-output.js';
import type { StrippedSources } from './worker-typescript.js';

/** A task named by reference, as the worker finds it. */
export interface TaskAddress {
  moduleUrl: string;
  taskName: string;
}

/** One batch sent to a worker. */
export interface BatchRequest extends TaskAddress {
  mode: 'single' | 'spread';
  payload: unknown[];
  /**
   * 24 bytes shared with the caller (layout at PROGRESS_BYTES): the index
   * within the batch of the task running now (-1 before the first), the
   * batch's phase, the task's start time (ms since the epoch, a clock all
   * threads share), and whether the caller has mapped the reply's mapped
   * results. The caller's timeout watchdog and crash reports read it.
   */
  progress: SharedArrayBuffer;
  /** workerInit, run once per worker (keyed by module URL, name and arguments). */
  init?: TaskAddress & { args: unknown[]; key: string };
  /** The BroadcastChannel on which the pool asks its workers to run their teardown hooks (teardown.ts). */
  teardownChannel: string;
  /** Task index (input order) of payload[0], for messages the worker writes. */
  firstIndex?: number;
  /** Per task of the batch: the read-only shared copies it receives, checked after it (share-guard.ts). */
  guards?: (TaskGuards | undefined)[];
  /**
   * Tasks of the batch hold objects in common (one structured clone keeps
   * them one object): the worker gives each task its own copy, so a write by
   * one never reaches the next.
   */
  isolate?: boolean;
  /** Some arguments are nested too deep for structured clone and come flattened (deep-values.ts). */
  deep?: boolean;
  /** Some arguments hold mapped arrays sent as file references (share-files.ts). */
  files?: boolean;
  /** URL of the caller's entry script, which a worker must never import (it would run the script again). */
  entryScript?: string;
  /** The task modules' JavaScript, stripped of types by the pool, until every worker has loaded them (worker-typescript.ts). */
  stripped?: StrippedSources;
}

/** Why a batch did not complete, when the worker could say so. */
export type FailureKind = 'task' | 'import' | 'not-found' | 'init' | 'typescript' | 'result' | 'shared-write' | 'entry-script';

/** The worker's reply, with what the batch's tasks printed (task-output.ts). */
export type BatchReply = {
  threadId: number;
  output?: TaskOutput[];
  /** The thread has teardown hooks (worker-hooks.ts): close() asks it to run them. A thread without any is not asked. */
  teardown?: true;
} & (
  | { ok: true; results: unknown[]; durationMs: number; deep?: boolean; files?: boolean }
  | { ok: false; kind: FailureKind; failedAt: number; error: SerializedError; moduleUrl: string; argument?: string }
  /** The call stopped before this batch's tasks ran (see BATCH_PHASE): nothing ran. */
  | { ok: false; kind: 'cancelled' }
);

/**
 * Byte layout of `BatchRequest.progress`: Int32 slots RUNNING_INDEX and
 * BATCH_PHASE, a Float64 at START_TIME_OFFSET, then an Int32 at
 * RESULTS_MAPPED_OFFSET that the caller sets to 1 once it has mapped the
 * reply's mapped results (share-files.ts): the worker closes their
 * descriptors then.
 */
export const PROGRESS_BYTES = 24;
export const RUNNING_INDEX = 0;
export const BATCH_PHASE = 1;
export const START_TIME_OFFSET = 8;
export const RESULTS_MAPPED_OFFSET = 16;

/**
 * Where a batch is, in the Int32 slot BATCH_PHASE, moved by compare-exchange
 * on both sides. A stopping call terminates a worker only while its batch is
 * PHASE_QUEUED (not begun, or still importing) or PHASE_RUNNING tasks; one PHASE_SETTLING (in
 * the before-task hooks, which finish library work such as an index write
 * that must not be cut off: sqlite3 aborts the whole process when a worker is
 * terminated during a statement) is marked PHASE_CANCELLED instead, and the worker
 * replies `cancelled` once its hooks are done, without running a task.
 */
export const PHASE_QUEUED = 0;
export const PHASE_SETTLING = 1;
export const PHASE_RUNNING = 2;
export const PHASE_CANCELLED = 3;

/** Whether a module URL names a TypeScript file, which needs tsx in a worker. */
export function isTypeScriptUrl(url: string): boolean {
  return /\.(?:ts|mts|cts|tsx)(?:[?#].*)?$/.test(url);
}
