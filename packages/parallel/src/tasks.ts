/**
 * Task handles. A worker thread cannot receive a closure, so a task is named
 * by the URL of the module that declares it and its key in `tasks()`. Calling
 * `tasks(import.meta.url, {...})` also records the functions in a per-thread
 * registry: when a worker imports the module, that same call runs there as a
 * side effect, and the worker finds the function by (module URL, name) in the
 * registry. No export name has to match.
 */
import { isMainThread } from 'node:worker_threads';
import { entryScriptError, isEntryScript } from './entry-script.js';
import { formatValue, ParallelError } from './errors.js';
import { threadState } from './thread-state.js';

// Any callable. `never[]` parameters would reject every function in a
// `extends` test; `any[]` is the one spelling TypeScript accepts for "any
// function" without losing the parameter types of the function given.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFunction = (...args: any[]) => unknown;

/** Where a task lives: the identity a worker needs to find it. */
export interface TaskRef {
  /** URL of the module that called `tasks()` (its `import.meta.url`). */
  readonly moduleUrl: string;
  /** The task's key in the object given to `tasks()`. */
  readonly taskName: string;
}

/**
 * A task handle: callable in-process (it returns what the function returns)
 * and sendable to worker threads by reference.
 */
export type Task<F extends AnyFunction = AnyFunction> = F &
  TaskRef & {
    /** The function itself. */
    readonly fn: F;
  };

/** The handles `tasks()` returns, one per key. */
export type TaskModule<T extends Record<string, AnyFunction>> = { readonly [K in keyof T]: Task<T[K]> };

// Shared with other copies of this package in the thread (thread-state.ts).
const { tasks: registry, handles: taskHandles } = threadState();

const registryKey = (moduleUrl: string, taskName: string): string => `${moduleUrl}#${taskName}`;

/**
 * Declares the functions of a module as tasks that worker threads can run.
 * Call it at the top level of the module, with that module's `import.meta.url`,
 * and export the result (or its members): workers import the module and find
 * each function under its key.
 *
 * @example
 * ```ts
 * // tasks.ts
 * import { tasks } from '@larder/parallel';
 * function simulate(seed: number): number { return seed * 2; }
 * export const { simulate: simulateTask } = tasks(import.meta.url, { simulate });
 * // main.ts
 * import { parallel } from '@larder/parallel';
 * const results = await parallel(simulateTask, [1, 2, 3]); // [2, 4, 6]
 * ```
 */
export function tasks<T extends Record<string, AnyFunction>>(moduleUrl: string, functions: T): TaskModule<T> {
  checkModuleUrl(moduleUrl);
  // A worker evaluating the caller's entry script (imported by a task module,
  // say) stops it here, before the script's own side effects run again.
  if (!isMainThread && isEntryScript(moduleUrl)) throw entryScriptError(moduleUrl, Object.keys(functions ?? {})[0]);
  if (functions === null || typeof functions !== 'object' || Array.isArray(functions)) {
    throw new ParallelError('LARDER_OPTION', `tasks() needs an object of functions as its second argument ({ name: fn }), got ${formatValue(functions)}`);
  }
  const handles: Record<string, Task> = {};
  for (const [taskName, fn] of Object.entries(functions)) {
    if (typeof fn !== 'function') {
      throw new ParallelError('LARDER_OPTION', `tasks(): "${taskName}" must be a function, got ${typeof fn}`);
    }
    registry.set(registryKey(moduleUrl, taskName), fn);
    const handle = ((...args: unknown[]) => fn(...args)) as Task;
    Object.defineProperties(handle, {
      moduleUrl: { value: moduleUrl, enumerable: true },
      taskName: { value: taskName, enumerable: true },
      fn: { value: fn, enumerable: true },
      name: { value: taskName },
    });
    taskHandles.add(handle);
    handles[taskName] = handle;
  }
  return handles as TaskModule<T>;
}

// Workers import the module by this URL, so it must be one: import.meta.url
// is file: (or data:, http: under loaders). A path, even an absolute one,
// is not; a Windows path parses as a URL with a one-letter scheme.
function checkModuleUrl(moduleUrl: unknown): void {
  const fail = (got: string): never => {
    throw new ParallelError('LARDER_OPTION', `tasks() needs the URL of the calling module as its first argument (pass import.meta.url), got ${got}`);
  };
  if (moduleUrl instanceof URL) fail('a URL object; pass its .href');
  if (typeof moduleUrl !== 'string') fail(formatValue(moduleUrl));
  const url = moduleUrl as string;
  if (/^(?:[a-z]:)?[/\\]/i.test(url)) fail(`${JSON.stringify(url)}, a file path; turn a path into a URL with pathToFileURL(path).href`);
  if (!/^[a-z][a-z0-9+.-]+:/i.test(url) || !URL.canParse(url)) fail(JSON.stringify(url));
}

/** Whether `value` is a handle made by `tasks()`. */
export function isTask(value: unknown): value is Task {
  return typeof value === 'function' && taskHandles.has(value);
}

/** The function registered under (module URL, name) in this thread, if its module has been imported. */
export function lookupTask(moduleUrl: string, taskName: string): AnyFunction | undefined {
  return registry.get(registryKey(moduleUrl, taskName));
}

/** One call of a task with its arguments, made by `delayed()`. */
export interface Call<F extends AnyFunction = AnyFunction> {
  readonly task: F;
  readonly args: Parameters<F>;
}

/**
 * joblib's `delayed`: captures a function and its arguments for `run()` /
 * `iterate()` without calling it.
 *
 * @example
 * ```ts
 * import { Parallel, delayed } from '@larder/parallel';
 * import { convolve } from './tasks.js';
 * await using pool = new Parallel({ nJobs: 2 });
 * const out = await pool.run([1, 2, 3].map((k) => delayed(convolve)(k, 3)));
 * ```
 */
export function delayed<F extends AnyFunction>(task: F): (...args: Parameters<F>) => Call<F> {
  if (typeof task !== 'function') {
    throw new ParallelError('LARDER_OPTION', `delayed() needs a function or task handle, got ${typeof task}`);
  }
  return (...args: Parameters<F>) => ({ task, args });
}

/** Whether `value` looks like a `delayed()` call. */
export function isCall(value: unknown): value is Call {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Call).task === 'function' &&
    Array.isArray((value as Call).args)
  );
}

/** Whether a task's return value is a promise to await. Reading `then` may hit a getter or a revoked Proxy: such a value is a result. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  try {
    return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
  } catch {
    return false;
  }
}
