/**
 * Work a worker thread must finish before the pool terminates it.
 *
 * Piscina ends workers with `worker.terminate()`, which runs no exit hooks, so
 * anything a task left pending in its thread (a cache's batched index writes,
 * a log buffer) would be lost on `close()`. Code running in a worker registers
 * a hook under a global symbol (no import needed, so @larder/memory does not
 * depend on this package); before terminating, `close()` broadcasts a teardown
 * to the pool's workers and waits, bounded, for each to run its hooks.
 */
import { BroadcastChannel, threadId } from 'node:worker_threads';
import { formatValue, ParallelError } from './errors.js';

/** A cleanup function run in a worker thread before the pool terminates it. */
export type WorkerTeardownHook = () => unknown;

/** The global registry: `globalThis[Symbol.for('larder.workerTeardown')]`, a Set of hooks. */
export const TEARDOWN_HOOKS = Symbol.for('larder.workerTeardown');

/**
 * Hooks a worker awaits before it starts each batch:
 * `globalThis[Symbol.for('larder.workerBeforeTask')]`, a Set of functions
 * returning a promise (work to let finish first) or undefined (nothing under
 * way). A pool terminates workers busy in a task (timeout, abort, a task
 * error elsewhere); native work still under way in such a worker, like a
 * sqlite3 statement, can abort the whole process, so it must not overlap a task.
 */
export const BEFORE_TASK_HOOKS = Symbol.for('larder.workerBeforeTask');

/** Resolves when every before-task hook's work is done; undefined when none has any (the common case costs no await). */
export function settleBeforeTask(): Promise<unknown> | undefined {
  const registry = (globalThis as Record<symbol, unknown>)[BEFORE_TASK_HOOKS] as Set<() => Promise<unknown> | undefined> | undefined;
  if (!registry || registry.size === 0) return undefined;
  const pending = [...registry].map((hook) => hook()).filter((work) => work !== undefined);
  return pending.length === 0 ? undefined : Promise.allSettled(pending);
}

const TEARDOWN = 'teardown';

/**
 * Registers `hook` to run in this worker thread before a larder pool ends it.
 * Returns a function that unregisters it. In the main thread it is kept but
 * never called by larder.
 *
 * @example
 * ```ts
 * const unregister = onWorkerTeardown(() => index.flush());
 * ```
 */
export function onWorkerTeardown(hook: WorkerTeardownHook): () => void {
  if (typeof hook !== 'function') throw new ParallelError('LARDER_OPTION', `onWorkerTeardown() needs a function, got ${formatValue(hook)}`);
  const registry = ((globalThis as Record<symbol, unknown>)[TEARDOWN_HOOKS] ??= new Set<WorkerTeardownHook>()) as Set<WorkerTeardownHook>;
  registry.add(hook);
  return () => void registry.delete(hook);
}

async function runHooks(): Promise<void> {
  const registry = (globalThis as Record<symbol, unknown>)[TEARDOWN_HOOKS] as Set<WorkerTeardownHook> | undefined;
  if (!registry) return;
  // A failing hook must not keep the others from running, nor the worker from being ended.
  await Promise.allSettled([...registry].map(async (hook) => hook()));
}

/** Worker side: answers the pool's teardown broadcast on `channelName`, once per thread. */
export function listenForTeardown(channelName: string): void {
  const channel = new BroadcastChannel(channelName);
  // Listening must not keep an idle worker alive.
  channel.unref();
  channel.onmessage = (event) => {
    if ((event as MessageEvent).data !== TEARDOWN) return;
    void runHooks().then(() => channel.postMessage({ done: threadId }));
  };
}

/**
 * Pool side: asks the workers listening on `channelName` to run their hooks,
 * and resolves when each thread in `threadIds` has answered, or after `timeoutMs`.
 */
export async function teardownWorkers(channelName: string, threadIds: ReadonlySet<number>, timeoutMs: number): Promise<void> {
  if (threadIds.size === 0) return;
  const waiting = new Set(threadIds);
  const channel = new BroadcastChannel(channelName);
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      channel.onmessage = (event) => {
        const done = ((event as MessageEvent).data as { done?: number } | undefined)?.done;
        if (done !== undefined) waiting.delete(done);
        if (waiting.size > 0) return;
        clearTimeout(timer);
        resolve();
      };
      channel.postMessage(TEARDOWN);
    });
  } finally {
    channel.close();
  }
}
