/**
 * Worker faults with @larder/parallel (issue 6): a task that calls
 * process.exit(), throws a string or a plain object, runs out of memory
 * (`resourceLimits`), or never returns (`timeout`). Each gives a clear error
 * (a stable code or the thrown value, and the task's index), the pool
 * replaces the worker and stays usable, and `iterate()` has delivered the
 * results of the tasks that finished before the fault.
 *
 * The last two pin fixes: errors name the task function as well as its
 * index ("task 3 (exitAfter) failed"), and a thrown plain object keeps its
 * content instead of "[object Object]".
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Parallel, delayed, type Task } from '@larder/parallel';
import { faults } from './fixtures/fault-tasks.js';
import { fixture, runScript } from './fixtures/run-child.js';

const pool = new Parallel({ nJobs: 2, batchSize: 1, resourceLimits: { maxOldGenerationSizeMb: 48 } });
/** The hanging tasks get this timeout (per call); the others none, so a slow replacement worker never times out a healthy task. */
const TIMEOUT_MS = 1500;
afterAll(() => pool.close());

interface Fault { name: string; task: Task<(delayMs: number) => unknown>; check(error: unknown): void; timeout?: number }

const faultsToTest: Fault[] = [
  { name: 'process.exit(3)', task: faults.exitAfter, check: (e) => expect(e).toMatchObject({ code: 'LARDER_WORKER_EXIT', message: expect.stringMatching(/^\[larder\/parallel\] task 3 \(exitAfter\) failed: its worker exited with code 3/) }) },
  { name: 'a thrown string', task: faults.throwString, check: (e) => expect(e).toMatchObject({ message: expect.stringContaining('a plain string, not an Error') }) },
  { name: 'a thrown plain object', task: faults.throwObject, check: (e) => expect(e).toMatchObject({ message: expect.stringContaining('non-Error value thrown') }) },
  { name: 'out of memory (resourceLimits 48 MB)', task: faults.exhaustMemory, check: (e) => expect(e).toMatchObject({ code: 'LARDER_WORKER_EXIT', message: expect.stringMatching(/task 3 \(exhaustMemory\) failed: its worker ran out of memory/) }) },
  { name: `never returning (timeout ${TIMEOUT_MS} ms)`, task: faults.neverReturn, timeout: TIMEOUT_MS, check: (e) => expect(e).toMatchObject({ code: 'LARDER_TIMEOUT', message: expect.stringMatching(/task 3 \(neverReturn\) ran longer than timeout 1500 ms/) }) },
  { name: `a synchronous endless loop (timeout ${TIMEOUT_MS} ms)`, task: faults.spinForever, timeout: TIMEOUT_MS, check: (e) => expect(e).toMatchObject({ code: 'LARDER_TIMEOUT', message: expect.stringMatching(/task 3 \(spinForever\) ran longer/) }) },
];

/**
 * Three quick tasks, then the fault. The fault waits 800 ms first (a hanging one: until the timeout), so the quick
 * tasks are done before it even when a replacement worker is slow to start on a loaded machine.
 */
const callsAround = (fault: Fault) => [
  delayed(faults.double)(1),
  delayed(faults.double)(2),
  delayed(faults.double)(3),
  delayed(fault.task)(fault.timeout ? 0 : 800),
];

/**
 * Both workers up, their task module loaded: four 300 ms tasks keep one worker busy while the other takes the next.
 * A worker replaced after the previous fault boots in seconds on a loaded machine; without this, the quick tasks
 * of the next call waited for it and the fault (on the other worker) ran first.
 */
const warmBoth = (): Promise<unknown> => pool.run([1, 2, 3, 4].map((x) => delayed(faults.double)(x, 300)));

describe('worker faults', () => {
  for (const fault of faultsToTest) {
    it(`worker faults: ${fault.name}: a clear error with the task index, the pool recovers, iterate() keeps the results before it`, async () => {
      for (const ordered of [true, false]) {
        const delivered: number[] = [];
        let failure: unknown;
        await warmBoth();
        try {
          for await (const value of pool.iterate(callsAround(fault), { ordered, timeout: fault.timeout })) delivered.push(value as number);
        } catch (e) {
          failure = e;
        }
        expect(failure).toBeInstanceOf(Error);
        expect((failure as { taskIndex?: number }).taskIndex).toBe(3);
        fault.check(failure);
        expect(delivered.sort()).toEqual([2, 4, 6]);
        expect(await pool.map(faults.double, [1, 2, 3, 4])).toEqual([2, 4, 6, 8]); // the pool recovered
      }
      await warmBoth();
      const error = await pool.run(callsAround(fault), { timeout: fault.timeout }).then(() => undefined, (e: unknown) => e);
      fault.check(error);
    }, 90_000);
  }

  it('worker faults: the error names the task function, not only its index', async () => {
    const error = await pool.run([delayed(faults.exitAfter)(0)]).then(() => undefined, (e: unknown) => e);
    expect((error as Error).message).toMatch(/exitAfter/);
  });

  it('worker faults: a thrown plain object keeps its content (it was "[object Object]")', async () => {
    const error = await pool.run([delayed(faults.throwObject)(0)]).then(() => undefined, (e: unknown) => e);
    expect(JSON.stringify(error) + String((error as Error).message)).toMatch(/a plain object/);
  });
});

describe('resourceLimits with nJobs 1', () => {
  it('worker faults: a task out of memory under nJobs 1 and resourceLimits fails in its worker, naming the task; the caller survives', async () => {
    // The child's own heap is small: a task run in-process (the old behaviour) kills it instead of failing in a worker.
    const { stdout } = await runScript(fixture('limits-main.ts'), [], { env: { NODE_OPTIONS: '--max-old-space-size=160' }, timeoutMs: 90_000 });
    const [failure, after] = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(failure).toMatchObject({ code: 'LARDER_WORKER_EXIT', taskIndex: 1, message: expect.stringMatching(/task 1 \(exhaustMemory\) failed: its worker ran out of memory/) });
    expect(after).toEqual({ after: [4, 6] });
  }, 100_000);
});
