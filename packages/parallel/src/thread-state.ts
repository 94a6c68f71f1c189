/**
 * What every copy of @larder/parallel loaded in one thread must agree on:
 * the tasks declared there, which functions are task handles, whether the
 * thread is a pool worker running tasks, and the caller's entry script. Two
 * copies meet in one thread when a task module resolves this package to
 * another file than the worker did (src and dist under a custom condition,
 * two installs): a task declared through one copy must be found by the other.
 * So the state sits on `globalThis` under one documented, exported name,
 * {@link PARALLEL_THREAD_STATE}, instead of in each copy's module scope.
 */
import type { AnyFunction } from './tasks.js';

/** `globalThis[Symbol.for('larder.parallel.thread')]`: this thread's {@link ParallelThreadState}. */
export const PARALLEL_THREAD_STATE: unique symbol = Symbol.for('larder.parallel.thread');

/** The per-thread state shared by the copies of @larder/parallel in one thread. Not for user code to change. */
export interface ParallelThreadState {
  /** Tasks declared in this thread, by `<module URL>#<task name>`. */
  readonly tasks: Map<string, AnyFunction>;
  /** The handles `tasks()` made in this thread (`isTask`). */
  readonly handles: WeakSet<object>;
  /** In a pool worker: true once it runs tasks (nested calls then default to nJobs 1). */
  inWorkerTask: boolean;
  /** The real path of the process's entry script; null when there is none, undefined before it is known. */
  entryScript: string | null | undefined;
}

/** This thread's state, created (field by field, for a copy of another version) on first use. */
export function threadState(): ParallelThreadState {
  const slot = globalThis as { [PARALLEL_THREAD_STATE]?: Partial<ParallelThreadState> };
  const state = (slot[PARALLEL_THREAD_STATE] ??= {}) as { -readonly [K in keyof ParallelThreadState]?: ParallelThreadState[K] };
  state.tasks ??= new Map();
  state.handles ??= new WeakSet();
  state.inWorkerTask ??= false;
  return state as ParallelThreadState;
}
