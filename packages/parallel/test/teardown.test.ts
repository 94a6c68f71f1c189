/** close() lets each worker finish what its tasks left pending before the threads are terminated. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Parallel, parallel } from '@larder/parallel';
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
