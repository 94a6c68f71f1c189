/**
 * Regression: a pool terminating a worker that was busy in a cached function
 * (timeout, abort, a task error elsewhere) aborted the whole process when that
 * worker's Memory held its SQLite index open (node-sqlite3 #1666). Workers now
 * hold the index only while they use it. Run in a child process: the crash
 * takes the process down with it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const program = fileURLToPath(new URL('./fixtures/terminate-busy-main.ts', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));

it('terminating workers busy in a cached function (after their index was used) does not abort the process', () => {
  const cache = mkdtempSync(join(tmpdir(), 'larder-terminate-'));
  try {
    const run = spawnSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', program], {
      cwd: root,
      encoding: 'utf8',
      timeout: 110_000,
      env: { ...process.env, LARDER_TEST_CACHE: cache },
    });
    expect(run.stderr).not.toMatch(/FATAL ERROR/);
    expect(run.stdout).toContain('survived');
    expect(run.status).toBe(0);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}, 120_000); // 8 rounds of pools, each stopped by a timeout: 15 s alone, more on a loaded machine
