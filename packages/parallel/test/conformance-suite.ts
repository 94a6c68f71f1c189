/**
 * The backend conformance suite: the behaviours joblib users rely on,
 * whatever runs the tasks. A function of the backend and of how to open a
 * pool of it, so every backend runs the same tests: the local ones in
 * conformance.test.ts, 'bullmq' against a real Redis and real larder-worker
 * processes in test/services/parallel-bullmq.test.ts.
 */
import { describe, expect, it, type TestContext } from 'vitest';
import { AbortError, delayed, TimeoutError, type BackendName, type Parallel, type ParallelOptions } from '@larder/parallel';
import { t } from './fixtures/math-tasks.js';

/** A backend under test. */
export interface ConformanceTarget {
  backend: BackendName;
  /** A pool of this backend with `options` (the test may be skipped here: a server that is not running). */
  open(context: TestContext, options: ParallelOptions): Promise<Parallel>;
}

/** Registers the suite for one backend. */
export function backendConformance({ backend, open }: ConformanceTarget): void {
  describe(`backend ${backend}`, () => {
    // Backends whose tasks run in other threads or processes: real stacks, real concurrency.
    const remote = backend === 'threads' || backend === 'bullmq';
    it.for([1, 2, -1, -2])('[x**2 for x in range(5)] with nJobs %i', async (nJobs, context) => {
      await using pool = await open(context, { nJobs });
      expect(await pool.map(t.square, [0, 1, 2, 3, 4])).toEqual([0, 1, 4, 9, 16]);
    });

    it('run() keeps input order across tasks and batches', async (context) => {
      await using pool = await open(context, { nJobs: 2, batchSize: 3 });
      const calls = Array.from({ length: 20 }, (_, i) => (i % 2 ? delayed(t.square)(i) : delayed(t.failAt)(i, -1)));
      expect(await pool.run(calls)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 ? i * i : i)));
    });

    it('iterate: ordered waits for the slow task, unordered does not', async (context) => {
      await using pool = await open(context, { nJobs: 2, batchSize: 1 });
      const calls = () => [delayed(t.sleepThen)(300, 0), delayed(t.sleepThen)(5, 1), delayed(t.sleepThen)(5, 2), delayed(t.sleepThen)(5, 3)];
      const ordered: number[] = [];
      for await (const value of pool.iterate(calls())) ordered.push(value);
      expect(ordered).toEqual([0, 1, 2, 3]);
      const unordered: number[] = [];
      for await (const value of pool.iterate(calls(), { ordered: false })) unordered.push(value);
      if (backend === 'sequential') expect(unordered).toEqual([0, 1, 2, 3]);
      else expect(unordered.at(-1)).toBe(0);
      expect([...unordered].sort()).toEqual([0, 1, 2, 3]);
    });

    it('a task error rejects with the same name and message, and taskIndex', async (context) => {
      await using pool = await open(context, { nJobs: 2, batchSize: 2 });
      const calls = Array.from({ length: 10 }, (_, i) => delayed(t.failAt)(i, 7));
      const failure = (await pool.run(calls).catch((e: unknown) => e)) as Error & { taskIndex: number; cause?: Error };
      expect(failure.name).toBe('ValidationError');
      expect(failure.message).toBe('bad input 7');
      expect(failure.taskIndex).toBe(7);
      if (remote) expect(failure.cause?.stack).toMatch(/failAt[\s\S]*math-tasks/);
      const typeError = await pool.run([delayed(t.throwType)()]).catch((e: unknown) => e);
      expect(typeError).toBeInstanceOf(TypeError);
      expect((typeError as Error).message).toBe('not a number');
    });

    it('the pool stays usable after a task error (await using, two calls)', async (context) => {
      await using pool = await open(context, { nJobs: 2 });
      await expect(pool.run([delayed(t.failAt)(1, 1)])).rejects.toThrow('bad input 1');
      expect(await pool.map(t.square, [5, 6])).toEqual([25, 36]);
    });

    it('abort stops 100 queued slow tasks long before their total time', async (context) => {
      await using pool = await open(context, { nJobs: 2, batchSize: 1 });
      const controller = new AbortController();
      const started = performance.now();
      setTimeout(() => controller.abort(new Error('user stop')), 150);
      const calls = Array.from({ length: 100 }, (_, i) => delayed(t.sleepThen)(200, i));
      const error = await pool.run(calls, { signal: controller.signal }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AbortError);
      expect((error as AbortError).code).toBe('ABORT_ERR');
      expect(performance.now() - started).toBeLessThan(2_000); // 100 × 200 ms = 20 s sequentially
      expect(await pool.map(t.square, [3])).toEqual([9]);
    });

    it('timeout counts from each task start and rejects with TimeoutError', async (context) => {
      await using pool = await open(context, { nJobs: 2, batchSize: 2, timeout: 450 });
      // Each task takes 250 ms: a batch of two takes 500 ms but no task exceeds 450 ms (200 ms to spare on a loaded machine).
      expect(await pool.run([0, 1, 2, 3].map((i) => delayed(t.sleepThen)(250, i)))).toEqual([0, 1, 2, 3]);
      const error = await pool.run([delayed(t.sleepThen)(10, 0), delayed(t.sleepThen)(2_000, 1)]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as TimeoutError).taskIndex).toBe(1);
      expect((error as Error).message).toMatch(/^\[larder\/parallel\] task 1 \(\w+\) ran longer than timeout 450 ms/);
    });

    it('lazy input is pulled no faster than preDispatch allows', async (context) => {
      await using pool = await open(context, { nJobs: 2, batchSize: 1, preDispatch: '2*nJobs' });
      let pulled = 0;
      let completed = 0;
      let maxAhead = 0;
      function* items(): Generator<number> {
        for (let i = 0; i < 40; i++) {
          pulled++;
          maxAhead = Math.max(maxAhead, pulled - completed);
          yield 5;
        }
      }
      const results = await pool.map(t.sleepThen, items(), { progress: (done) => (completed = done) });
      expect(results).toHaveLength(40);
      // At most preDispatch (4) batches in flight, plus the item being pulled.
      expect(maxAhead).toBeLessThanOrEqual(backend === 'async' ? 3 : backend === 'sequential' ? 2 : 5);
      expect(maxAhead).toBeGreaterThanOrEqual(remote ? 3 : 1);
    });

    it('an error thrown by the input iterator reaches the caller as itself', async (context) => {
      await using pool = await open(context, { nJobs: 2 });
      const mine = new RangeError('input broke');
      async function* items(): AsyncGenerator<number> {
        yield 1;
        yield 2;
        throw mine;
      }
      await expect(pool.map(t.square, items())).rejects.toBe(mine);
    });

    it('progress callback: done never decreases and ends at (total, total)', async (context) => {
      await using pool = await open(context, { nJobs: 2, batchSize: 3 });
      const seen: [number, number | undefined][] = [];
      await pool.map(t.square, Array.from({ length: 20 }, (_, i) => i), { progress: (done, total) => seen.push([done, total]) });
      for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBeGreaterThanOrEqual(seen[i - 1]![0]);
      expect(seen.at(-1)).toEqual([20, 20]);
    });

    it('async iterables and empty input', async (context) => {
      await using pool = await open(context, { nJobs: 2 });
      async function* items(): AsyncGenerator<number> {
        for (let i = 0; i < 5; i++) yield i;
      }
      expect(await pool.map(t.square, items())).toEqual([0, 1, 4, 9, 16]);
      expect(await pool.map(t.square, [])).toEqual([]);
    });
  });
}
