/**
 * How a pool asks its workers to run their teardown hooks (worker-hooks.ts)
 * before `close()` terminates them: a broadcast on the pool's channel, one
 * answer per thread, bounded by TEARDOWN_BUDGET_MS.
 */
import { BroadcastChannel, threadId } from 'node:worker_threads';
import { runTeardownHooks } from './worker-hooks.js';

const TEARDOWN = 'teardown';

/** Worker side: answers the pool's teardown broadcast on `channelName`, once per thread. */
export function listenForTeardown(channelName: string): void {
  const channel = new BroadcastChannel(channelName);
  // Listening must not keep an idle worker alive.
  channel.unref();
  channel.onmessage = (event) => {
    if ((event as MessageEvent).data !== TEARDOWN) return;
    void runTeardownHooks().then(() => channel.postMessage({ done: threadId }));
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
