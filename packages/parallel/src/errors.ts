/**
 * The errors @larder/parallel raises itself. Each has a stable `code`; task
 * errors thrown by user code are rebuilt with their own name and message
 * (see `rebuildTaskError`), because callers match on those.
 */
import { isProxy } from 'node:util/types';

/** Stable codes of the errors raised by @larder/parallel. */
export type ParallelErrorCode =
  | 'LARDER_OPTION'
  | 'LARDER_NOT_A_TASK'
  | 'LARDER_TASK_NOT_FOUND'
  | 'LARDER_TASK_IMPORT'
  | 'LARDER_ENTRY_SCRIPT'
  | 'LARDER_MISSING_DRIVER'
  | 'LARDER_UNSENDABLE'
  | 'LARDER_SHARED_WRITE'
  | 'LARDER_TASK_ERROR'
  | 'LARDER_WORKER_EXIT'
  | 'LARDER_WORKER_INIT'
  | 'LARDER_TIMEOUT'
  | 'LARDER_CLOSED'
  | 'LARDER_REMOTE'
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
  /** LARDER_SHARED_WRITE: where the array sat in the task's arguments (`$[0].samples`; `$` is the argument list). */
  argument?: string;

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

/** Throws LARDER_OPTION: `<name> must be <expected>, got <value>`. */
export function badOption(name: string, expected: string, got: unknown): never {
  throw new ParallelError('LARDER_OPTION', `${name} must be ${expected}, got ${formatValue(got)}`);
}

/** Formats a bad option value for an error message. */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return `a function`;
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/** What a worker sends back when a task throws: enough to rebuild the error. Only strings and numbers, so it always posts. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
  /** The task threw something that is not an Error (a string, null, a Proxy...). */
  notAnError?: boolean;
}

// Reading a property of a thrown value may run a getter or a Proxy trap that throws.
function read(value: object, key: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: (value as Record<string, unknown>)[key] };
  } catch {
    return { ok: false };
  }
}

/** A bounded, never-throwing description of any value, for messages. */
export function describeValue(value: unknown): string {
  try {
    // node:util only when a value is described: importing it runs its lazy getters, in every worker thread.
    return process.getBuiltinModule('node:util').inspect(value, { depth: 3, breakLength: Infinity, maxArrayLength: 20, maxStringLength: 500, getters: false, customInspect: false });
  } catch {
    return `an uninspectable ${typeof value}`;
  }
}

function isRealError(value: unknown): value is Error {
  try {
    return !isProxy(value) && value instanceof Error;
  } catch {
    return false; // a revoked Proxy throws on instanceof
  }
}

/**
 * Turns anything thrown into a structured-clone-safe description; never
 * throws, whatever the value's getters, traps or field types.
 */
export function serializeError(error: unknown): SerializedError {
  if (isRealError(error)) {
    const name = read(error, 'name');
    const message = read(error, 'message');
    const stack = read(error, 'stack');
    const code = read(error, 'code');
    const out: SerializedError = {
      name: name.ok && typeof name.value === 'string' && name.value !== '' ? name.value : 'Error',
      message: !message.ok ? '(reading its message threw)' : typeof message.value === 'string' ? message.value : message.value === undefined ? '' : describeValue(message.value),
    };
    if (stack.ok && typeof stack.value === 'string') out.stack = stack.value;
    if (code.ok && (typeof code.value === 'string' || typeof code.value === 'number')) out.code = code.value;
    const errors = error instanceof AggregateError ? read(error, 'errors') : undefined;
    if (errors?.ok && Array.isArray(errors.value)) {
      const inner = errors.value.slice(0, 5).map((item) => { const s = serializeError(item); return `${s.name}: ${s.message}`; });
      out.message += ` [${errors.value.length} error${errors.value.length === 1 ? '' : 's'}: ${inner.join('; ')}${errors.value.length > 5 ? '; ...' : ''}]`;
    }
    return out;
  }
  // A thrown string, number or plain object: its content, bounded, so the caller sees what was thrown.
  return { name: 'Error', message: `non-Error value thrown: ${describeValue(error)}`, notAnError: true };
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

/** A code worth keeping from a task's error: Node's and libraries' are strings (some numbers). */
function isCode(code: unknown): code is string | number {
  return (typeof code === 'string' && code !== '') || typeof code === 'number';
}

/** An error thrown by a task, rebuilt in the caller's thread. */
export type TaskError = Error & { taskIndex: number; code?: unknown };

/**
 * Rebuilds a task's error in the caller: same name and message (and the
 * built-in class when the name is one), `taskIndex` set, its own `code` or
 * LARDER_TASK_ERROR, and the worker's stack kept as `cause`, so the caller's
 * own stack stays readable.
 */
export function rebuildTaskError(remote: SerializedError, taskIndex: number, cause?: unknown): TaskError {
  const name = typeof remote.name === 'string' && remote.name !== '' ? remote.name : 'Error';
  const given = typeof remote.message === 'string' ? remote.message : describeValue(remote.message);
  // An error always says something: `throw new Error()` reads as what it was and where.
  const message = given !== '' ? given : `${name} without a message, thrown by task ${taskIndex}`;
  const Ctor = Object.hasOwn(BUILTIN_ERRORS, name) ? BUILTIN_ERRORS[name]! : Error;
  if (cause === undefined) {
    const remoteStack = new Ctor(message);
    remoteStack.name = name;
    remoteStack.stack = typeof remote.stack === 'string' ? remote.stack : `${name}: ${message}\n    at task ${taskIndex} (stack not available)`;
    cause = remoteStack;
  }
  const error = new Ctor(message, { cause }) as TaskError;
  error.name = name;
  error.taskIndex = taskIndex;
  error.code = isCode(remote.code) ? remote.code : 'LARDER_TASK_ERROR';
  return error;
}

/**
 * What an in-process backend rejects with when a task throws: the task's own
 * error with `taskIndex` (and `code` LARDER_TASK_ERROR when it has none)
 * added, as joblib re-raises the exception itself; or, when that value is not
 * an Error that can carry them (null, a string, a Proxy, a frozen error, an
 * error whose name or message is not a string or whose getters throw), an
 * Error rebuilt from it, the thrown value kept as `cause`.
 */
export function inProcessTaskError(thrown: unknown, taskIndex: number): TaskError {
  if (isRealError(thrown) && Object.isExtensible(thrown)) {
    const name = read(thrown, 'name');
    const message = read(thrown, 'message');
    if (name.ok && typeof name.value === 'string' && message.ok && typeof message.value === 'string' && message.value !== '') {
      try {
        // The index of this call's task, even over one the error carried from elsewhere (a nested call).
        Object.defineProperty(thrown, 'taskIndex', { value: taskIndex, enumerable: false, writable: true, configurable: true });
        const code = read(thrown, 'code');
        if (code.ok && !isCode(code.value)) Object.defineProperty(thrown, 'code', { value: 'LARDER_TASK_ERROR', enumerable: false, writable: true, configurable: true });
        if ((thrown as { taskIndex?: unknown }).taskIndex === taskIndex && isCode((thrown as { code?: unknown }).code)) return thrown as TaskError;
      } catch {
        // A getter or a non-configurable property: rebuilt below.
      }
    }
  }
  return rebuildTaskError(serializeError(thrown), taskIndex, thrown);
}
