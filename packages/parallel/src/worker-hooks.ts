/**
 * The worker lifecycle hooks: a public, typed API through which any library
 * running inside a pool's worker thread learns about that thread's life.
 *
 * A pool may end a worker between tasks or in the middle of one: a task that
 * times out, a signal that aborts the call, a task error that cancels the
 * others, and `close()`. `worker.terminate()` runs no exit handlers, so work a
 * library keeps going in the background of a thread (batched writes, an open
 * file, a native statement under way) needs two moments to finish in:
 *
 * - **before a batch of tasks** starts, the worker awaits every `beforeTask`
 *   hook: background I/O finishes there, so it never overlaps a task the pool
 *   may terminate;
 * - **before a graceful end** (`close()`), the worker runs every `teardown`
 *   hook, and the pool waits for them up to {@link TEARDOWN_BUDGET_MS}.
 *   Workers ended during a task get no teardown: what must survive that is
 *   finished in `beforeTask`.
 *
 * The registry lives on `globalThis` under one documented name,
 * {@link WORKER_HOOKS} (`Symbol.for('larder.workerHooks')`), so a library can
 * register hooks without depending on this package (@larder/memory does), and
 * two copies of this package in one thread see the same hooks.
 */
import { formatValue, ParallelError } from './errors.js';

/**
 * The name of the hook registry: `globalThis[Symbol.for('larder.workerHooks')]`,
 * a {@link WorkerHookRegistry}. Create it when missing (see the README).
 */
export const WORKER_HOOKS: unique symbol = Symbol.for('larder.workerHooks');

/** How long `close()` waits for a worker's teardown hooks before terminating it anyway. */
export const TEARDOWN_BUDGET_MS = 5_000;

/**
 * Awaited in a pool's worker before each batch of tasks. Returns a promise of
 * work to let finish first, or undefined when nothing is under way (then the
 * batch starts without an await). The first call also tells a library that
 * its thread is a pool worker, which may be terminated during any task.
 */
export type BeforeTaskHook = () => PromiseLike<unknown> | undefined | void;

/** Run in a pool's worker before `close()` ends the thread; may be async (bounded by {@link TEARDOWN_BUDGET_MS}). */
export type TeardownHook = () => unknown;

/**
 * The shape of `globalThis[Symbol.for('larder.workerHooks')]`. Hooks are
 * called in the worker thread that registered them, in registration order; a
 * hook that throws or rejects is ignored (the others still run, the worker
 * still ends). In the main thread hooks are kept but never called by a pool.
 */
export interface WorkerHookRegistry {
  readonly beforeTask: Set<BeforeTaskHook>;
  readonly teardown: Set<TeardownHook>;
}

/** This thread's registry, created on first use. */
export function workerHookRegistry(): WorkerHookRegistry {
  const slot = globalThis as { [WORKER_HOOKS]?: Partial<WorkerHookRegistry> };
  const registry = (slot[WORKER_HOOKS] ??= {}) as { beforeTask?: Set<BeforeTaskHook>; teardown?: Set<TeardownHook> };
  // Filled field by field: a library may have created the object with one set only.
  registry.beforeTask ??= new Set();
  registry.teardown ??= new Set();
  return registry as WorkerHookRegistry;
}

function register<H>(kind: 'beforeTask' | 'teardown', hook: H, caller = `workerHooks.${kind}`): () => void {
  if (typeof hook !== 'function') throw new ParallelError('LARDER_OPTION', `${caller}() needs a function, got ${formatValue(hook)}`);
  const set = workerHookRegistry()[kind] as Set<H>;
  set.add(hook);
  return () => void set.delete(hook);
}

/**
 * Registers hooks in the current thread's {@link WorkerHookRegistry}. Each
 * returns a function that unregisters the hook.
 *
 * @example
 * ```ts
 * import { workerHooks } from '@larder/parallel';
 * const pending: string[] = [];
 * let writing: Promise<void> | undefined;
 * // Let a background write finish before the next batch starts.
 * workerHooks.beforeTask(() => writing);
 * // Write what is left before close() ends the thread.
 * const unregister = workerHooks.teardown(async () => { pending.length = 0; });
 * unregister();
 * ```
 */
export const workerHooks = {
  /** Registers `hook` to be awaited before each batch of tasks in this worker. */
  beforeTask: (hook: BeforeTaskHook): (() => void) => register('beforeTask', hook),
  /** Registers `hook` to run in this worker before `close()` ends it. */
  teardown: (hook: TeardownHook): (() => void) => register('teardown', hook),
} as const;

/**
 * Registers `hook` to run in this worker thread before a larder pool ends it.
 *
 * @deprecated use `workerHooks.teardown(hook)`.
 */
export function onWorkerTeardown(hook: TeardownHook): () => void {
  return register('teardown', hook, 'onWorkerTeardown');
}

/** Pool side: resolves when every before-task hook's work is done; undefined when none has any (the common case costs no await). */
export function settleBeforeTask(): Promise<unknown> | undefined {
  const hooks = (globalThis as { [WORKER_HOOKS]?: Partial<WorkerHookRegistry> })[WORKER_HOOKS]?.beforeTask;
  if (!hooks || hooks.size === 0) return undefined;
  const pending: PromiseLike<unknown>[] = [];
  for (const hook of hooks) {
    try {
      const work = hook();
      if (work !== undefined && work !== null) pending.push(work);
    } catch {
      // A failing hook is the library's own trouble: it must not fail the batch.
    }
  }
  return pending.length === 0 ? undefined : Promise.allSettled(pending);
}

/** Pool side: runs this thread's teardown hooks; a failing hook does not keep the others from running. */
export async function runTeardownHooks(): Promise<void> {
  const hooks = (globalThis as { [WORKER_HOOKS]?: Partial<WorkerHookRegistry> })[WORKER_HOOKS]?.teardown;
  if (!hooks) return;
  await Promise.allSettled([...hooks].map(async (hook) => hook()));
}
