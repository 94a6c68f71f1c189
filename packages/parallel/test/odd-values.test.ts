/**
 * Whatever a task throws or returns, a failed call rejects with an Error that
 * has a message, a code and `taskIndex`, on every backend; never a bare `{}`,
 * and never LARDER_WORKER_EXIT for a worker that lived. Deep values are a
 * coded error naming the task, not a bare RangeError.
 */
import { describe, expect, it } from 'vitest';
import { delayed, Parallel, type ParallelOptions } from '@larder/parallel';
import { nestValue, trust } from './fixtures/trust-tasks.js';

const THROWN = ['null', 'undefined', 'number', 'string', 'symbol', 'object', 'proxy', 'proxy-error', 'revoked', 'getters', 'object-name', 'odd-fields', 'subclass', 'aggregate', 'cause-cycle', 'frozen', 'constructor-name'];

const backends: Array<[string, ParallelOptions]> = [
  ['threads', { nJobs: 2, batchSize: 1 }],
  ['async', { backend: 'async', nJobs: 2 }],
  ['sequential', { backend: 'sequential' }],
  ['nJobs 1', { nJobs: 1 }],
];

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: unknown; taskIndex?: unknown }> {
  const outcome = await promise.then((value) => ({ value }), (error: unknown) => ({ error }));
  if (!('error' in outcome)) throw new Error('expected a rejection');
  return outcome.error as Error & { code?: unknown; taskIndex?: unknown };
}

function expectUsableError(error: Error & { code?: unknown; taskIndex?: unknown }, taskIndex: number): void {
  expect(error).toBeInstanceOf(Error);
  expect(typeof error.message).toBe('string');
  expect(error.message.length).toBeGreaterThan(0);
  expect(['string', 'number']).toContain(typeof error.code);
  expect(error.code).not.toBe('LARDER_WORKER_EXIT');
  expect(error.taskIndex).toBe(taskIndex);
  expect(typeof error.name).toBe('string');
  expect(() => String(error)).not.toThrow();
}

describe.each(backends)('backend %s', (_name, options) => {
  it('a task throwing any odd value rejects with an Error that has a message, a code and taskIndex', async () => {
    await using pool = new Parallel(options);
    for (const kind of THROWN) {
      for (const task of [trust.throwOdd, trust.rejectOdd]) {
        const error = await rejection(pool.run([delayed(trust.double)(1), delayed(task)(kind)]));
        try {
          expectUsableError(error, 1);
        } catch (cause) {
          throw new Error(`${task.taskName}(${kind}): ${String(cause)}`);
        }
      }
    }
    const named = await rejection(pool.map(trust.throwOdd, ['object-name']));
    expect(named.message).toContain('named by an object');
    const aggregate = await rejection(pool.map(trust.throwOdd, ['aggregate']));
    expect(aggregate.name).toBe('AggregateError');
    expect(aggregate.message).toContain('several');
    expect(await pool.map(trust.double, [1, 2])).toEqual([2, 4]);
  }, 180_000); // each failed call on threads may replace a worker: seconds each on a loaded machine
});

describe('threads backend: values that cannot cross a thread', () => {
  it('a task returning a Proxy, a function, a symbol, a class instance, a throwing getter or a revoked Proxy rejects with LARDER_UNSENDABLE naming the task', async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    for (const kind of ['proxy', 'function', 'symbol', 'instance', 'getter', 'revoked', 'nested-proxy']) {
      const error = await rejection(pool.map(trust.returnOdd, ['fine', kind]));
      try {
        expectUsableError(error, 1);
        expect(error.code).toBe('LARDER_UNSENDABLE');
        expect(error.message).toMatch(/^\[larder\/parallel\] task 1 \(returnOdd\) returned a value that cannot be sent back/);
      } catch (cause) {
        throw new Error(`returnOdd(${kind}): ${String(cause)}`);
      }
    }
    expect(await pool.map(trust.double, [3])).toEqual([6]);
  }, 120_000);

  it('a Proxy argument is LARDER_UNSENDABLE naming the task and argument, before anything is posted', async () => {
    await using pool = new Parallel({ nJobs: 2 });
    const error = await rejection(pool.map(trust.depthOf, [1, { inner: new Proxy({}, {}) }]));
    expectUsableError(error, 1);
    expect(error.code).toBe('LARDER_UNSENDABLE');
    expect(error.message).toContain('argument 0 of task 1 (at args[0].inner) is a Proxy');
  });

  it('an argument or a result nested 100 000 levels deep is LARDER_UNSENDABLE naming the task, not a bare RangeError', async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    const deepArgument = await rejection(pool.map(trust.depthOf, [[0], nestValue(100_000)]));
    expectUsableError(deepArgument, 1);
    expect(deepArgument.code).toBe('LARDER_UNSENDABLE');
    expect(deepArgument.message).toMatch(/argument 0 of task 1 .*nested more than 1000 levels/);
    expect(deepArgument.message.length).toBeLessThan(2000);
    const deepResult = await rejection(pool.map(trust.nest, [3, 100_000]));
    expectUsableError(deepResult, 1);
    expect(deepResult.code).toBe('LARDER_UNSENDABLE');
    expect(deepResult.message).toMatch(/task 1 \(nest\) returned a value that cannot be sent back.*nested more than 1000 levels/);
    expect(await pool.map(trust.depthOf, [nestValue(500)])).toEqual([500]);
  }, 60_000);
});

describe('workerInit arguments', () => {
  it('a workerInit argument that cannot be sent throws LARDER_UNSENDABLE at new Parallel(), naming workerInit, and starts no thread', () => {
    const before = process.getActiveResourcesInfo().filter((kind) => kind === 'MessagePort').length;
    expect(() => new Parallel({ nJobs: 2, workerInit: delayed(trust.depthOf)(nestValue(5000)) })).toThrow(
      expect.objectContaining({ code: 'LARDER_UNSENDABLE', message: expect.stringMatching(/^\[larder\/parallel\] argument 0 of workerInit \(at args\[0\]\[0\].*nested more than 1000 levels/) }),
    );
    expect(process.getActiveResourcesInfo().filter((kind) => kind === 'MessagePort').length).toBe(before);
  });
});

describe('in-process backends', () => {
  it('a task returning an odd value resolves with that value itself (nothing crosses a thread)', async () => {
    for (const backend of ['async', 'sequential'] as const) {
      await using pool = new Parallel({ backend });
      const [fn, revoked] = await pool.map(trust.returnOdd, ['function', 'revoked']);
      expect(typeof fn).toBe('function');
      expect(typeof revoked).toBe('object');
    }
  });
});
