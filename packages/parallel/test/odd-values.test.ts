/**
 * Whatever a task throws or returns, a failed call rejects with an Error that
 * has a message, a code and `taskIndex`, on every backend; never a bare `{}`,
 * and never LARDER_WORKER_EXIT for a worker that lived. Deep values are a
 * coded error naming the task, not a bare RangeError.
 */
import { describe, expect, it } from 'vitest';
import { delayed, Parallel, type ParallelOptions } from '@larder/parallel';
import { nestValue, trust } from './fixtures/trust-tasks.js';

/** How deep a nested array goes, without recursion. */
function depthOf(value: unknown): number {
  let depth = 0;
  for (; Array.isArray(value); depth++) value = value[0];
  return depth;
}

const THROWN = ['null', 'undefined', 'number', 'string', 'symbol', 'object', 'proxy', 'proxy-error', 'revoked', 'getters', 'object-name', 'odd-fields', 'subclass', 'aggregate', 'cause-cycle', 'frozen', 'constructor-name', 'empty-message', 'foreign-index', 'null-code', 'object-code'];

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

  it('an argument and a result nested 100 000 levels deep go to the worker and back (they were a bare RangeError without taskIndex)', async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    expect(await pool.map(trust.depthOf, [[0], nestValue(100_000)])).toEqual([1, 100_000]);
    expect(await pool.run([delayed(trust.depthOf)(nestValue(100_000)), delayed(trust.depthOf)(nestValue(3))])).toEqual([100_000, 3]);
    const [shallow, deep] = await pool.map(trust.nest, [3, 100_000]);
    expect(depthOf(shallow)).toBe(3);
    expect(depthOf(deep)).toBe(100_000);
    // Objects, a Map, a shared reference, a cycle and a typed array at the bottom of a 20 000-deep chain.
    type Link = { next?: Link; bottom?: Map<string, Float64Array>; self?: Link };
    const head: Link = {};
    let link = head;
    for (let i = 0; i < 20_000; i++) link = link.next = {};
    link.bottom = new Map([['data', Float64Array.of(1, 2, 3)]]);
    link.self = link;
    const [back] = (await pool.map(trust.echo, [{ head, again: head }])) as [{ head: Link; again: Link }];
    expect(back.again).toBe(back.head);
    let end = back.head;
    let length = 0;
    while (end.next) {
      end = end.next;
      length++;
    }
    expect(length).toBe(20_000);
    expect(end.self).toBe(end);
    expect([...end.bottom!.get('data')!]).toEqual([1, 2, 3]);
  }, 120_000);

  it('an unsendable value deep inside a deep argument is still LARDER_UNSENDABLE naming the task', async () => {
    await using pool = new Parallel({ nJobs: 2 });
    const value = nestValue(5000) as unknown[];
    let bottom = value;
    while (Array.isArray(bottom[0])) bottom = bottom[0] as unknown[];
    bottom[0] = () => 1;
    const error = await rejection(pool.map(trust.depthOf, [1, value]));
    expectUsableError(error, 1);
    expect(error.code).toBe('LARDER_UNSENDABLE');
    expect(error.message).toMatch(/argument 0 of task 1 .*function/);
  }, 60_000);
});

describe('workerInit arguments', () => {
  it('a workerInit argument that cannot be sent throws LARDER_UNSENDABLE at new Parallel(), naming workerInit, and starts no thread', () => {
    const before = process.getActiveResourcesInfo().filter((kind) => kind === 'MessagePort').length;
    expect(() => new Parallel({ nJobs: 2, workerInit: delayed(trust.depthOf)({ inner: new Proxy({}, {}) }) })).toThrow(
      expect.objectContaining({ code: 'LARDER_UNSENDABLE', message: expect.stringMatching(/^\[larder\/parallel\] argument 0 of workerInit \(at args\[0\]\.inner\) is a Proxy/) }),
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
