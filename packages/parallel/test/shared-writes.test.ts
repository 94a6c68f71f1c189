/**
 * A task never sees another task's writes to its arguments, and the caller's
 * arrays never change (the "Trust" issue): typed arrays above maxNbytes go
 * to workers as one read-only shared copy per call, and a write to it fails
 * the call with LARDER_SHARED_WRITE naming the task and the argument.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { delayed, Parallel, ParallelError } from '@larder/parallel';
import { trust } from './fixtures/trust-tasks.js';

const N = 200_000; // 1.6 MB of float64: above the default maxNbytes (1 MiB)
const ones = (n = N): Float64Array => new Float64Array(n).fill(1);
const pool = new Parallel({ nJobs: 2, batchSize: 1 });
afterAll(() => pool.close());

async function failure(promise: Promise<unknown>): Promise<ParallelError> {
  const outcome = await promise.then((value) => ({ value }), (error: unknown) => ({ error }));
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  return outcome.error as ParallelError;
}

function expectSharedWrite(error: ParallelError, argument: string, taskName: string): void {
  expect(error).toBeInstanceOf(ParallelError);
  expect(error.code).toBe('LARDER_SHARED_WRITE');
  expect(typeof error.taskIndex).toBe('number');
  expect(error.argument).toBe(argument);
  expect(error.message).toMatch(new RegExp(`^\\[larder/parallel\\] task ${error.taskIndex} \\(${taskName}\\): its argument \\${argument.replace(/[[\].]/g, '\\$&')}`));
}

describe('large arguments shared with workers are read-only', () => {
  it('six tasks adding 1 to one 1.6 MB argument: the call fails with LARDER_SHARED_WRITE instead of tasks seeing each other\'s writes', async () => {
    const data = ones();
    const error = await failure(pool.map(trust.addOneAndSum, [data, data, data, data, data, data]));
    expectSharedWrite(error, '$[0]', 'addOneAndSum');
    expect(data.every((x) => x === 1)).toBe(true); // the caller's array never changes
  });

  it('a single task that writes (the last task of the call) is caught before the call resolves', async () => {
    const data = ones();
    expectSharedWrite(await failure(pool.map(trust.addOneAndSum, [data])), '$[0]', 'addOneAndSum');
    expectSharedWrite(await failure(pool.run([delayed(trust.readSum)(data), delayed(trust.addOneAndSum)(data)])), '$[0]', 'addOneAndSum');
    expect(data[0]).toBe(1);
  });

  it('an array nested in an object argument is named by its path ($[0].samples)', async () => {
    const samples = ones();
    const error = await failure(pool.map(trust.addOneToSamples, [{ samples, label: 'a' }, { samples, label: 'b' }]));
    expectSharedWrite(error, '$[0].samples', 'addOneToSamples');
    expect(samples[0]).toBe(1);
  });

  it('two views on one buffer, a DataView and a write after an await are each caught', async () => {
    const buffer = new ArrayBuffer(2 * 8 * N);
    const first = new Float64Array(buffer, 0, N);
    const second = new Float64Array(buffer, 8 * N, N);
    expectSharedWrite(await failure(pool.run([delayed(trust.writeSecond)(first, second)])), '$[1]', 'writeSecond');
    expect(second[0]).toBe(0);
    const view = new DataView(new ArrayBuffer(8 * N));
    expectSharedWrite(await failure(pool.map(trust.writeDataView, [view])), '$[0]', 'writeDataView');
    expect(view.getFloat64(8)).toBe(0);
    const data = ones();
    expectSharedWrite(await failure(pool.map(trust.addOneLater, [data, data])), '$[0]', 'addOneLater');
    expect(data[N - 1]).toBe(1);
  });

  it('a task that only moves values (reverse in place) is caught too', async () => {
    const data = Float64Array.from({ length: N }, (_, i) => i);
    expectSharedWrite(await failure(pool.map(trust.reverseInPlace, [data, data])), '$[0]', 'reverseInPlace');
    expect(data[0]).toBe(0);
  });

  it('iterate() rejects on the write and delivers nothing computed from a changed argument', async () => {
    const data = ones();
    const seen: number[] = [];
    const error = await failure((async () => {
      for await (const value of pool.iterate([delayed(trust.addOneAndSum)(data)])) seen.push(value);
    })());
    expectSharedWrite(error, '$[0]', 'addOneAndSum');
    expect(seen).toEqual([]);
  });

  it('a task that only reads a large argument is unaffected, and the pool stays usable after a write', async () => {
    const data = ones();
    expect(await pool.map(trust.readSum, [data, data, data])).toEqual([N, N, N]);
    await failure(pool.map(trust.addOneAndSum, [data]));
    expect(await pool.map(trust.readSum, [data, data])).toEqual([N, N]);
  });

  it('a 10 MB argument (its shared copy advised for huge pages) arrives whole, and a write to it is still caught', async () => {
    const n = 1_250_000;
    const data = Float64Array.from({ length: n }, (_, i) => i % 1000);
    const expected = 499.5 * n;
    expect(await pool.map(trust.readSum, [data, data])).toEqual([expected, expected]);
    expectSharedWrite(await failure(pool.map(trust.addOneAndSum, [data, data])), '$[0]', 'addOneAndSum');
    expect(data[999]).toBe(999); // the caller's array never changes
  });

  it('arrays the caller put on a SharedArrayBuffer stay shared: writes are allowed and visible', async () => {
    const data = new Float64Array(new SharedArrayBuffer(8 * N)).fill(1);
    await using one = new Parallel({ nJobs: 2, batchSize: 1 });
    const sums = await one.map(trust.addOneAndSum, [data]);
    expect(sums).toEqual([2 * N]);
    expect(data[0]).toBe(2);
  });
});

describe('arguments copied per task', () => {
  it('a large ArrayBuffer argument: each task gets its own copy (400000 each, never 600000)', async () => {
    const buffer = ones().buffer as ArrayBuffer;
    expect(await pool.map(trust.addOneToBuffer, [buffer, buffer, buffer])).toEqual([2 * N, 2 * N, 2 * N]);
    expect(new Float64Array(buffer)[0]).toBe(1);
  });

  it('one small argument given to several tasks of one batch: each task sees it unchanged', async () => {
    await using batched = new Parallel({ nJobs: 2, batchSize: 8 });
    const small = new Float64Array(4);
    expect(await batched.run(Array.from({ length: 8 }, () => delayed(trust.bumpFirst)(small)))).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    const record = { values: [0] };
    expect(await batched.map(trust.bumpFirst, Array.from({ length: 8 }, () => record))).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    expect(small[0]).toBe(0);
    expect(record.values[0]).toBe(0);
  });

  it('workerInit writing to its large argument changes neither the caller\'s array nor another worker\'s', async () => {
    const data = ones();
    await using init = new Parallel({ nJobs: 2, batchSize: 1, workerInit: delayed(trust.initWriting)(data) });
    const seen = await init.map(trust.initSumSeen, [0, 1, 2, 3]);
    expect(seen).toEqual([2 * N, 2 * N, 2 * N, 2 * N]);
    expect(data[0]).toBe(1);
  });
});
