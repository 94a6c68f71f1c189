/**
 * `@larder/parallel/tasks`, the entry task modules import: its handles run in
 * worker threads and are the package root's, and importing it loads none of
 * the pool (each worker imports every task module, so whatever that entry
 * loads is part of every worker's start).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { threadId } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import * as root from '@larder/parallel';
import * as entry from '@larder/parallel/tasks';
import { tripleTask } from './fixtures/entry-point-tasks.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const hasRegisterHooks = typeof (nodeModule as { registerHooks?: unknown }).registerHooks === 'function';

describe('@larder/parallel/tasks', () => {
  it('exports the same functions as the package root', () => {
    expect(entry.tasks).toBe(root.tasks);
    expect(entry.delayed).toBe(root.delayed);
    expect(entry.isTask).toBe(root.isTask);
    expect(entry.workerHooks).toBe(root.workerHooks);
  });

  it('declares tasks that the root sees as tasks and worker threads run', async () => {
    expect(root.isTask(tripleTask)).toBe(true);
    expect(tripleTask(2).value).toBe(6);
    await using pool = new root.Parallel({ nJobs: 2, batchSize: 1 });
    const results = await pool.map(tripleTask, [1, 2, 3]);
    expect(results.map((r) => r.value)).toEqual([3, 6, 9]);
    for (const r of results) expect(r.threadId).not.toBe(threadId);
    const calls = await pool.run([root.delayed(tripleTask)(4), entry.delayed(tripleTask)(5)]);
    expect(calls.map((r) => r.value)).toEqual([12, 15]);
  });

  // Needs module.registerHooks (Node >= 22.15) to see what the import loads; Node 22 and 24 run it in CI.
  it.skipIf(!hasRegisterHooks)('loads none of the pool: no piscina, no @larder/store-fs, no backend (built package)', async () => {
    expect(existsSync(`${packageDir}/dist/tasks-entry.js`), 'run `pnpm build` first: this test imports the built package').toBe(true);
    const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(new URL('./fixtures/tasks-entry-loads.mjs', import.meta.url))], { cwd: packageDir, timeout: 60_000 });
    const loaded = (JSON.parse(stdout) as string[]).filter((url) => !url.startsWith('node:'));
    expect(loaded.some((url) => url.endsWith('/dist/tasks-entry.js'))).toBe(true);
    expect(loaded.filter((url) => /piscina|store-fs|cli-progress|\/dist\/(index|parallel|dispatch|options)\.js$|\/dist\/backends\//.test(url))).toEqual([]);
    // tasks() and the hooks, and what they need: a handful of modules.
    expect(loaded.length).toBeLessThanOrEqual(8);
  });
});
