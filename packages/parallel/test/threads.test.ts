/** What only the threads backend does: real worker threads, their failures, and what crosses to them. */
import { describe, expect, it } from 'vitest';
import { delayed, Parallel, ParallelError, parallel, tasks } from '@larder/parallel';
import { more, nestedArrays, Point, t } from './fixtures/math-tasks.js';
import { addPair, double } from './fixtures/plain-tasks.mjs';

describe('threads backend', () => {
  it('runs plain .mjs task modules and TypeScript ones in worker threads', async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    expect(await pool.map(double, [1, 2, 3])).toEqual([2, 4, 6]);
    expect(await pool.run([delayed(addPair)(1, 2), delayed(t.square)(3)])).toEqual([3, 9]);
    const threads = new Set(await pool.map(t.whichThread, Array.from({ length: 8 }, () => undefined)));
    expect(threads.has(0)).toBe(false); // not the main thread
  });

  it('a plain function is an error saying how to export it with tasks()', async () => {
    const square = (x: number): number => x * x;
    const error = (await parallel(square, [1, 2], { nJobs: 2 }).catch((e: unknown) => e)) as ParallelError;
    expect(error).toBeInstanceOf(ParallelError);
    expect(error.code).toBe('LARDER_NOT_A_TASK');
    expect(error.message).toMatch(/^\[larder\/parallel\] parallel\(\): function square is not a task handle/);
    expect(error.message).toContain('tasks(import.meta.url, { square })');
    expect(await parallel(square, [1, 2], { nJobs: 2, backend: 'async' })).toEqual([1, 4]);
  });

  it('a worker that exits names the task and exit code; the pool replaces it', async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    const calls = [delayed(t.square)(1), delayed(t.square)(2), delayed(t.exitWorker)(7), delayed(t.sleepThen)(50, 3)];
    const error = (await pool.run(calls).catch((e: unknown) => e)) as ParallelError;
    expect(error.code).toBe('LARDER_WORKER_EXIT');
    expect(error.taskIndex).toBe(2);
    expect(error.message).toMatch(/task 2 \(exitWorker\) failed: its worker exited with code 7/);
    expect(await pool.map(t.square, [1, 2, 3, 4])).toEqual([1, 4, 9, 16]);
  });

  it('a worker out of memory (resourceLimits) is a clear error; the pool goes on', async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1, resourceLimits: { maxOldGenerationSizeMb: 32 } });
    const error = (await pool.map(t.allocate, [1, 512]).catch((e: unknown) => e)) as ParallelError;
    expect(error.code).toBe('LARDER_WORKER_EXIT');
    expect(error.taskIndex).toBe(1);
    expect(error.message).toMatch(/task 1 \(allocate\) failed: its worker ran out of memory/);
    expect(await pool.map(t.square, [5])).toEqual([25]);
  });

  it('a task module that fails to import is an error naming the module', async () => {
    // The handle is declared here; only the worker imports the module.
    const { never } = tasks(new URL('./fixtures/broken-import.mjs', import.meta.url).href, { never: (x: number) => x });
    await using pool = new Parallel({ nJobs: 2 });
    const error = (await pool.map(never, [1]).catch((e: unknown) => e)) as ParallelError;
    expect(error.code).toBe('LARDER_TASK_IMPORT');
    expect(error.message).toContain('broken-import.mjs failed to import');
    expect(error.message).toContain('fails on purpose');
    expect(await pool.map(double, [4])).toEqual([8]);
  });

  it('a task declared under a URL the worker cannot find is an error naming it', async () => {
    const { ghost } = tasks(new URL('./fixtures/plain-tasks.mjs', import.meta.url).href, { ghost: (x: number) => x });
    const error = (await parallel(ghost, [1], { nJobs: 2 }).catch((e: unknown) => e)) as ParallelError;
    expect(error.code).toBe('LARDER_TASK_NOT_FOUND');
    expect(error.message).toContain('declares no task "ghost"');
  });

  it('an argument that cannot be sent names the task index and argument position', async () => {
    await using pool = new Parallel({ nJobs: 2 });
    const fnError = (await pool.run([delayed(addPair)(1, 2), delayed(addPair)(3, (() => 4) as unknown as number)]).catch((e: unknown) => e)) as ParallelError;
    expect(fnError.code).toBe('LARDER_UNSENDABLE');
    expect(fnError.message).toMatch(/argument 1 of task 1 is a function/);
    const classError = (await pool.map(t.square, [1, { nested: [new Point(2)] } as unknown as number]).catch((e: unknown) => e)) as ParallelError;
    expect(classError.message).toMatch(/argument 0 of task 1 \(at args\[0\]\.nested\[0\]\) is an instance of class Point/);
    const resultError = (await pool.map(t.returnFunction, [undefined]).catch((e: unknown) => e)) as ParallelError;
    expect(resultError.code).toBe('LARDER_UNSENDABLE');
    expect(resultError.message).toMatch(/task 0 \(\w+\) returned a value that cannot be sent back/);
  });

  it('typed arrays above maxNbytes are shared once; shared arrays pass as is', async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    const big = Float64Array.from({ length: 200_000 }, (_, i) => i); // 1.6 MB > 1M
    const small = new Float64Array(10);
    expect(await pool.run([delayed(t.isShared)(big), delayed(t.isShared)(small)])).toEqual([true, false]);
    expect(await pool.run([delayed(t.isShared)(big)], { maxNbytes: null })).toEqual([false]);
    const halves = await pool.run([delayed(t.sumHalf)(big, 0), delayed(t.sumHalf)(big, 1)]);
    expect(halves[0]! + halves[1]!).toBe((199_999 * 200_000) / 2);
    const out = new Float64Array(new SharedArrayBuffer(8 * 4));
    await pool.run([0, 1, 2, 3].map((i) => delayed(t.writeShared)(out, i)));
    expect([...out]).toEqual([0, 10, 20, 30]); // the workers' writes are visible here
  });

  it('regression: an object reached twice in an argument stays one object in the worker, its large array shared', async () => {
    // The walk used to return the original object on a second visit, so
    // `b` was a clone of the unshared original while `a` held the shared copy.
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    const holder = { data: Float64Array.from({ length: 200_000 }, (_, i) => i) }; // 1.6 MB > 1M
    const pairs = [{ a: holder, b: holder }, [holder, holder] as [typeof holder, typeof holder], new Map([['a', holder], ['b', holder]])];
    const expected = pairs.map(() => ({ same: true, shared: true }));
    expect(await pool.map(t.aliasing, pairs)).toEqual(expected);
    expect(await pool.run(pairs.map((pair) => delayed(t.aliasing)(pair)))).toEqual(expected);
    expect(holder.data.buffer).toBeInstanceOf(ArrayBuffer); // the caller's array is left as it was
  });

  it('typed arrays in results are transferred, not cloned', async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    const arrays = await pool.map(more.keepAndReturn, [1000, 1000, 1000, 1000]);
    expect(arrays.map((a) => a.length)).toEqual([1000, 1000, 1000, 1000]);
    const reports = await pool.map(more.detachedReport, Array.from({ length: 12 }, () => undefined));
    const withKept = reports.filter((r) => r.kept > 0);
    expect(withKept.length).toBeGreaterThan(0);
    for (const report of withKept) expect(report.detached).toBe(report.kept);
  });

  it('regression: typed arrays nested deep in a result (objects, arrays, Map, Set) are transferred too', async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    const results = await pool.map(nestedArrays.keepNested, [100, 100, 100, 100]);
    for (const result of results) {
      expect(result.deep.nested).toEqual(new Float64Array(100).fill(2));
      expect(result.deep.again).toBe(result.top); // one array returned twice stays one array
      expect(result.list[0]![0]).toEqual(new Float64Array(100).fill(3));
      expect(result.map.get('a')).toEqual(new Float64Array(100).fill(4));
      expect([...result.set][0]).toEqual(new Float64Array(100).fill(5));
      expect(result.part).toEqual(new Float64Array(99).fill(6));
    }
    // Each worker asked in turn: batchSize 1 and more tasks than workers reach both.
    const reports = (await pool.map(nestedArrays.keptNestedLengths, Array.from({ length: 12 }, () => undefined))).flat();
    expect(reports.length).toBeGreaterThan(0);
    for (const lengths of reports) {
      // Whole-buffer views moved; a slice and shared memory stay readable where they are.
      expect(lengths).toEqual({ top: 0, nested: 0, inList: 0, inMap: 0, inSet: 0, part: 99 * 8, shared: 100 * 8 });
    }
  });

  it('threads start as batches need them and stay: after a one-task call, nJobs batches run at once on nJobs threads', async () => {
    await using pool = new Parallel({ nJobs: 3, batchSize: 1 });
    const [first] = await pool.map(t.whichThread, [undefined]);
    // Each task waits for the other two: three threads must run them at once.
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const threads = await pool.run(Array.from({ length: 3 }, () => delayed(t.threadWhenAllRunning)(counter, 3)));
    expect(threads).not.toContain(-1);
    expect(new Set(threads).size).toBe(3);
    expect(threads).toContain(first);
  });

  it('workerInit runs once in each worker, before its first task', async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1, workerInit: delayed(t.init)('model loaded') });
    const states = await pool.map(t.initState, Array.from({ length: 10 }, () => undefined));
    for (const state of states) expect(state).toMatchObject({ initCount: 1, initValue: 'model loaded' });
  });

  it('a nested call inside a worker task runs in-process unless nJobs is given', async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    const [implicit, explicit] = await pool.run([delayed(t.nested)(), delayed(t.nested)(2)]);
    expect(implicit).toEqual({ nJobs: 1, results: [1, 4, 9] });
    expect(explicit).toEqual({ nJobs: 2, results: [1, 4, 9] });
  });

  it('auto batching sends many small tasks in few messages and keeps order', async () => {
    await using pool = new Parallel({ nJobs: 2 });
    const input = Array.from({ length: 20_000 }, (_, i) => i);
    const results = await pool.map(t.square, input);
    expect(results).toEqual(input.map((x) => x * x));
  });
});
