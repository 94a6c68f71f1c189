import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { tempDir } from './helpers.js';

const run = promisify(execFile);
const worker = fileURLToPath(new URL('./fixtures/square-worker.ts', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));

async function child(location: string, start: number, count: number, mode = '') {
  const { stdout, stderr } = await run(process.execPath, ['--conditions=larder-source', '--import', 'tsx', worker, location, String(start), String(count), mode], { cwd: root, timeout: 60_000 });
  expect(stderr).toBe('');
  return JSON.parse(stdout.trim()) as { computed: number; wrong: number; warnings: string[] };
}

describe('several processes', () => {
  it('processes: two real child processes use one location at once: both finish, no errors, every value right', async () => {
    const location = tempDir();
    const [a, b] = await Promise.all([child(location, 0, 150), child(location, 50, 150)]);
    for (const result of [a, b]) {
      expect(result.wrong).toBe(0);
      expect(result.warnings).toEqual([]);
    }
    // 200 distinct calls; overlapping ones may be computed by both (no cross-process dedup yet).
    expect(a.computed + b.computed).toBeGreaterThanOrEqual(200);
    expect(a.computed + b.computed).toBeLessThanOrEqual(300);
    const memory = new Memory(location);
    const stats = await memory.stats();
    expect(stats.entries).toBe(200);
    expect(stats.misses).toBe(a.computed + b.computed);
    expect(stats.hits + stats.misses).toBe(300);
    await memory.close();
  });

  it('processes: rerun the notebook: a new process reads what an earlier one wrote, computing nothing', async () => {
    const location = tempDir();
    const first = await child(location, 0, 40);
    expect(first.computed).toBe(40);
    const again = await child(location, 0, 40, 'noclose');
    expect(again).toEqual({ computed: 0, wrong: 0, warnings: [] });
    // The second process exited without close(): its hits still reached the index (beforeExit flush).
    const memory = new Memory(location);
    const stats = await memory.stats();
    expect(stats).toMatchObject({ entries: 40, hits: 40, misses: 40 });
    expect(stats.perFunction.square).toMatchObject({ entries: 40, hits: 40, misses: 40 });
    await memory.close();
  });
});
