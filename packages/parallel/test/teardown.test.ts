/** close() lets each worker finish what its tasks left pending before the threads are terminated. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { delayed, Parallel, parallel } from '@larder/parallel';
import { teardown } from './fixtures/teardown-tasks.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));
function logFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'larder-teardown-'));
  dirs.push(dir);
  return join(dir, 'log');
}

function recorded(logPath: string): number[] {
  return readFileSync(logPath, 'utf8')
    .trim()
    .split('\n')
    .flatMap((line) => line.split(':')[1]!.split(',').map(Number))
    .sort((a, b) => a - b);
}

describe('worker teardown', () => {
  it("close() runs each worker's teardown hooks, async ones included, before ending the threads", async () => {
    const log = logFile();
    const pool = new Parallel({ nJobs: 2, batchSize: 1 });
    await pool.map(teardown.remember, Array.from({ length: 8 }, (_, x) => ({ x, log })));
    await pool.close();
    expect(recorded(log)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('the one-shot parallel() runs them too', async () => {
    const log = logFile();
    await parallel(teardown.remember, [10, 11, 12].map((x) => ({ x, log })), { nJobs: 2 });
    expect(recorded(log)).toEqual([10, 11, 12]);
  });
});

describe('worker lifecycle hooks (a library other than @larder/memory)', () => {
  it("before-task hooks run before each batch and a batch waits for the work they return; teardown hooks run at close()", async () => {
    const { hooked } = await import('./fixtures/hook-tasks.js');
    const log = logFile();
    const pool = new Parallel({ nJobs: 2, batchSize: 1 });
    const results = await pool.map(hooked.work, [0, 1, 2, 3, 4, 5].map((x) => ({ x, logPath: log })));
    // In each worker, every batch (one task each) called the hook first, and never started while the last one's background work ran.
    const perThread = new Map<number, number[]>();
    for (const r of results) perThread.set(r.thread, [...(perThread.get(r.thread) ?? []), r.calls]);
    expect(results.every((r) => r.thread !== 0)).toBe(true);
    for (const calls of perThread.values()) expect(calls.sort((a, b) => a - b)).toEqual(calls.map((_, i) => i + 1));
    expect(results.every((r) => !r.pendingAtStart)).toBe(true);
    await pool.close();
    // Teardown ran once in each worker that ran tasks, after its before-task hooks, within close().
    const lines = readFileSync(log, 'utf8').trim().split('\n').sort();
    expect(lines).toEqual([...perThread].map(([thread, calls]) => `teardown ${thread} calls=${calls.length}`).sort());
  });

  it('a call stopped while workers run their before-task hooks lets the hooks finish (nothing cut off) and runs no task', async () => {
    const { settling } = await import('./fixtures/settling-tasks.js');
    const log = logFile();
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    const counter = new Int32Array(new SharedArrayBuffer(4));
    expect(new Set(await pool.run([0, 1].map(() => delayed(settling.arm)(log, counter, 2)))).size).toBe(2);
    const stop = new AbortController();
    const call = pool.run([delayed(settling.mark)(log), delayed(settling.mark)(log)], { signal: stop.signal });
    const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
    while (lines().filter((line) => line.startsWith('settling')).length < 2) await sleep(10);
    stop.abort();
    await expect(call).rejects.toThrow(expect.objectContaining({ name: 'AbortError' }));
    await vi.waitFor(() => expect(lines().filter((line) => line.startsWith('settled'))).toHaveLength(2), { timeout: 10_000 });
    expect(lines().filter((line) => line.startsWith('ran'))).toEqual([]);
  });

  it('workerHooks validates its argument with a coded error', async () => {
    const { workerHooks, WORKER_HOOKS } = await import('@larder/parallel');
    expect(() => workerHooks.beforeTask(42 as never)).toThrow(expect.objectContaining({ code: 'LARDER_OPTION', message: expect.stringMatching(/^\[larder\/parallel\] workerHooks.beforeTask\(\) needs a function/) }));
    const hook = () => undefined;
    const unregister = workerHooks.teardown(hook);
    expect((globalThis as Record<symbol, { teardown: Set<unknown> }>)[WORKER_HOOKS]!.teardown.has(hook)).toBe(true);
    unregister();
    expect((globalThis as Record<symbol, { teardown: Set<unknown> }>)[WORKER_HOOKS]!.teardown.has(hook)).toBe(false);
    expect(WORKER_HOOKS).toBe(Symbol.for('larder.workerHooks'));
  });
});
