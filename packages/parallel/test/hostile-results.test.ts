/**
 * Results a task sends back that structured clone trips on: a getter that
 * throws while the result is read, a Proxy, a function inside. Each is a
 * LARDER_UNSENDABLE naming the task and where in the result, never a hang or
 * a crashed pool; and a SharedArrayBuffer result stays shared (the contract
 * for shared memory), so the task's later writes show.
 */
import { describe, expect, it } from 'vitest';
import { Parallel, ParallelError } from '@larder/parallel';
import { hostile } from './fixtures/hostile-results.js';

describe('results that cannot be sent back', () => {
  it.each([
    ['throwingGetter', /task 0 \(throwingGetter\) returned a value that cannot be sent back from a worker: the result at \.bad has a getter that threw when read \(getter went off during the clone\)/],
    ['proxyResult', /task 0 \(proxyResult\) returned a value that cannot be sent back from a worker: the result is a Proxy/],
    ['withFunction', /task 0 \(withFunction\) returned a value that cannot be sent back from a worker: the result at \.f is a function/],
  ] as const)('%s: LARDER_UNSENDABLE naming the task and the place, and the pool stays usable', async (name, message) => {
    await using pool = new Parallel({ nJobs: 2 });
    const error = (await pool.map(hostile[name], [1]).catch((e: unknown) => e)) as ParallelError;
    expect(error).toBeInstanceOf(ParallelError);
    expect(error.code).toBe('LARDER_UNSENDABLE');
    expect(error.taskIndex).toBe(0);
    expect(error.message).toMatch(message);
    expect(await pool.map(hostile.keepsWriting, [1])).toHaveLength(1);
  });

  it('a SharedArrayBuffer result stays shared: the writes the task goes on making after returning show in the caller', async () => {
    await using pool = new Parallel({ nJobs: 2 });
    const [shared] = await pool.map(hostile.keepsWriting, [1]);
    expect(shared!.buffer).toBeInstanceOf(SharedArrayBuffer);
    const first = Atomics.load(shared!, 0);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(Atomics.load(shared!, 0)).toBeGreaterThan(first);
  });
});
