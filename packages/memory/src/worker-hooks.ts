/**
 * Memory's side of the worker lifecycle hooks that @larder/parallel documents
 * (its README, "Worker lifecycle hooks"): a registry on `globalThis` under
 * `Symbol.for('larder.workerHooks')` with two Sets of functions. Reached by
 * that documented name, not by an import, because memory does not depend on
 * parallel; any pool that honours the same contract drives these hooks.
 */

/** The documented name of the registry (exported by @larder/parallel as `WORKER_HOOKS`). */
const WORKER_HOOKS = Symbol.for('larder.workerHooks');

/** The registry's documented shape (@larder/parallel's `WorkerHookRegistry`). */
interface WorkerHookRegistry {
  /** Awaited before each batch of tasks; a hook returns a promise of work to finish first, or undefined. */
  readonly beforeTask: Set<() => PromiseLike<unknown> | undefined | void>;
  /** Run before a graceful end of the worker (within the pool's time budget). */
  readonly teardown: Set<() => unknown>;
}

/** This thread's registry, created (field by field) when missing. */
export function workerHookRegistry(): WorkerHookRegistry {
  const slot = globalThis as { [WORKER_HOOKS]?: Partial<WorkerHookRegistry> };
  const registry = (slot[WORKER_HOOKS] ??= {}) as { beforeTask?: WorkerHookRegistry['beforeTask']; teardown?: WorkerHookRegistry['teardown'] };
  registry.beforeTask ??= new Set();
  registry.teardown ??= new Set();
  return registry as WorkerHookRegistry;
}
