/**
 * The errors @larder/parallel raises itself. Each has a stable `code`; task
 * errors thrown by user code are rebuilt with their own name and message
 * (see `rebuildTaskError`), because callers match on those.
 */
import { inspect } from 'node:util';

/** Stable codes of the errors raised by @larder/parallel. */
export type ParallelErrorCode =
  | 'LARDER_OPTION'
  | 'LARDER_NOT_A_TASK'
  | 'LARDER_TASK_NOT_FOUND'
  | 'LARDER_TASK_IMPORT'
  | 'LARDER_TSX_MISSING'
  | 'LARDER_UNSENDABLE'
  | 'LARDER_WORKER_EXIT'
  | 'LARDER_WORKER_INIT'
  | 'LARDER_TIMEOUT'
  | 'LARDER_CLOSED'
  | 'ABORT_ERR';

/**
 * An error raised by @larder/parallel itself (not by a task).
 *
 * @example
 * ```ts
 * import { parallel, ParallelError } from '@larder/parallel';
 * try {
 *   await parallel((x: number) => x, [1], { nJobs: 0 });
 * } catch (error) {
 *   if (error instanceof ParallelError && error.code === 'LARDER_OPTION') console.error(error.message);
 * }
 * ```
 */
export class ParallelError extends Error {
  /** Stable machine-readable code. */
  readonly code: ParallelErrorCode;
  /** Index of the task concerned (input order), when there is one. */
  taskIndex?: number;

  constructor(code: ParallelErrorCode, message: string, options?: { cause?: unknown; taskIndex?: number }) {
    super(`[larder/parallel] ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ParallelError';
    this.code = code;
    if (options?.taskIndex !== undefined) this.taskIndex = options.taskIndex;
  }
}

/**
 * A task ran longer than `timeout` ms from its start; its worker was stopped.
 *
 * @example
 * ```ts
 * import { Parallel, TimeoutError } from '@larder/parallel';
 * import { slow } from './tasks.js';
 * await using pool = new Parallel({ timeout: 100 });
 * await pool.map(slow, [1000]).catch((error) => error instanceof TimeoutError);
 * ```
 */
export class TimeoutError extends ParallelError {
  constructor(taskIndex: number, timeoutMs: number, taskName?: string) {
    super(
      'LARDER_TIMEOUT',
      `${taskLabel(taskIndex, taskName)} ran longer than timeout ${timeoutMs} ms and was stopped (its worker was terminated and replaced). Raise \`timeout\` or split the task.`,
      { taskIndex },
    );
    this.name = 'TimeoutError';
  }
}

/**
 * The call was aborted through `signal`. Like DOM's AbortError: name 'AbortError', code 'ABORT_ERR'.
 *
 * @example
 * ```ts
 * import { parallel, AbortError } from '@larder/parallel';
 * const controller = new AbortController();
 * controller.abort();
 * await parallel(async (x: number) => x, [1], { backend: 'async', signal: controller.signal })
 *   .catch((error) => error instanceof AbortError); // true
 * ```
 */
export class AbortError extends ParallelError {
  constructor(reason: unknown) {
    super('ABORT_ERR', 'the call was aborted: queued tasks were cancelled and running ones stopped', { cause: reason });
    this.name = 'AbortError';
  }
}

/** How errors name a task: its index, and its function's name when known (`task 3 (simulate)`). */
export function taskLabel(taskIndex: number, taskName?: string): string {
  return taskName ? `task ${taskIndex} (${taskName})` : `task ${taskIndex}`;
}

/** Formats a bad option value for an error message. */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return `a function`;
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/** What a worker sends back when a task throws: enough to rebuild the error. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: unknown;
}

/** Turns anything thrown into a structured-clone-safe description. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const out: SerializedError = { name: error.name, message: error.message };
    if (error.stack !== undefined) out.stack = error.stack;
    const code = (error as { code?: unknown }).code;
    if (code !== undefined && (typeof code === 'string' || typeof code === 'number')) out.code = code;
    return out;
  }
  // A thrown string, number or plain object: its content, bounded, so the caller sees what was thrown.
  return { name: 'Error', message: `non-Error value thrown: ${inspect(error, { depth: 3, breakLength: Infinity, maxArrayLength: 20, maxStringLength: 500 })}` };
}

const BUILTIN_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** An error thrown by a task, rebuilt in the caller's thread. */
export type TaskError = Error & { taskIndex: number; code?: unknown };

/**
 * Rebuilds a task's error in the caller: same name and message (and the
 * built-in class when the name is one), `taskIndex` set, and the worker's
 * stack kept as `cause`, so the caller's own stack stays readable.
 */
export function rebuildTaskError(remote: SerializedError, taskIndex: number): TaskError {
  const Ctor = BUILTIN_ERRORS[remote.name] ?? Error;
  const cause = new Ctor(remote.message);
  cause.name = remote.name;
  cause.stack = remote.stack ?? `${remote.name}: ${remote.message}\n    at task ${taskIndex} (stack not available)`;
  const error = new Ctor(remote.message, { cause }) as TaskError;
  error.name = remote.name;
  error.taskIndex = taskIndex;
  if (remote.code !== undefined) error.code = remote.code;
  return error;
}
