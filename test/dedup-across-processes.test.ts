/**
 * In-flight dedup across processes and worker threads (issue 6): identical
 * misses requested at once by 2 processes × 2 worker threads × 2 calls
 * compute once; the others wait for the stored result. A holder killed with
 * SIGKILL does not block the others for the lease time.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { fixture, runScript, startScript, tempFolders } from './fixtures/run-child.js';

const folders = tempFolders('larder-dedup-');
afterAll(() => folders.cleanup());

interface ChildResult { results: { pid: number; thread: number; values: number[] }[] }

async function eightCalls(dedupe: boolean) {
  const root = folders.make();
  const env = { LARDER_TEST_CACHE: join(root, 'cache'), LARDER_TEST_COUNTER: join(root, 'counter'), LARDER_TEST_DEDUPE: String(dedupe) };
  mkdirSync(env.LARDER_TEST_COUNTER, { recursive: true });
  // A start time far enough ahead for both processes to boot and warm two workers each (slow on a loaded 2-core machine).
  const startAt = String(Date.now() + 6_000);
  const outputs = await Promise.all([0, 1].map(() => runScript(fixture('dedup-child.ts'), [startAt, '7'], { env, timeoutMs: 45_000 })));
  const children = outputs.map((o) => JSON.parse(o.stdout.trim()) as ChildResult);
  const calls = children.flatMap((c) => c.results);
  return { env, outputs, calls, evaluations: readdirSync(env.LARDER_TEST_COUNTER) };
}

describe('dedup across processes', () => {
  it('dedup: 8 concurrent identical calls from 2 processes × 2 worker threads evaluate the function once', async () => {
    const { env, outputs, calls, evaluations } = await eightCalls(true);
    expect(outputs.map((o) => o.stderr)).toEqual(['', '']);
    expect(calls).toHaveLength(4);
    expect(new Set(calls.map((c) => `${c.pid}/${c.thread}`)).size).toBe(4); // 4 distinct threads in 2 processes
    expect(calls.flatMap((c) => c.values)).toEqual(Array(8).fill(3 * 7 + 5));
    expect(evaluations).toHaveLength(1);
    const memory = new Memory(env.LARDER_TEST_CACHE);
    const stats = await memory.stats();
    await memory.close();
    expect(stats).toMatchObject({ entries: 1, misses: 1 });
    // Each thread's second call shares its first call in-thread; the 3 other threads read the holder's entry (a hit each).
    expect(stats.hits).toBe(3);
  }, 60_000);

  it('dedup: dedupe: false computes in every thread that missed (joblib behaviour), proving the lease is what dedupes', async () => {
    const { calls, evaluations } = await eightCalls(false);
    console.log(`dedupe: false: ${evaluations.length} evaluations of 8 identical calls`);
    expect(calls.flatMap((c) => c.values)).toEqual(Array(8).fill(3 * 7 + 5));
    expect(evaluations.length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('dedup: a holder killed with SIGKILL mid-computation is replaced at once, not after leaseMs (30 s)', async () => {
    const root = folders.make();
    const env = { LARDER_TEST_CACHE: join(root, 'cache'), LARDER_TEST_COUNTER: join(root, 'counter'), LARDER_TEST_SLEEP_MS: '60000' };
    mkdirSync(env.LARDER_TEST_COUNTER, { recursive: true });
    const holder = startScript(fixture('dedup-holder.ts'), ['9'], env);
    const exited = new Promise((resolve) => holder.on('exit', resolve));
    // Wait until the holder is inside the function (its evaluation file appears), then kill it.
    for (let i = 0; i < 400 && readdirSync(env.LARDER_TEST_COUNTER).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(readdirSync(env.LARDER_TEST_COUNTER)).toHaveLength(1);
    holder.kill('SIGKILL');
    await exited;
    const started = Date.now();
    const { stdout } = await runScript(fixture('dedup-holder.ts'), ['9'], { env: { ...env, LARDER_TEST_SLEEP_MS: '10' }, timeoutMs: 30_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ x: 9, value: 3 * 9 + 5 });
    expect(Date.now() - started).toBeLessThan(15_000); // process start included; a 30 s lease wait would fail this
    expect(readdirSync(env.LARDER_TEST_COUNTER)).toHaveLength(2);
  }, 60_000);
});
