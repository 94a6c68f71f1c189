/**
 * The index locked by another process (a long write, a stuck sqlite3 shell): cached calls return
 * their values at once, and a program that ends without close() still exits after one busy
 * timeout, not when the other process lets go.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { tempDir } from './helpers.js';

const holder = fileURLToPath(new URL('./fixtures/index-lock-holder.ts', import.meta.url));
const program = fileURLToPath(new URL('./fixtures/exit-while-locked.ts', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));

describe('an index locked by another process', () => {
  it('regression: a program that ends without close() exits after one failed flush (it retried every busy timeout for as long as the lock was held: 131 s for a 100 s lock)', async () => {
    const location = tempDir();
    const memory = new Memory(location);
    await memory.cache(function f(x: number) { return x + 1; }, { name: 'f' })(0);
    await memory.close();
    const lock = spawn(process.execPath, ['--conditions=larder-source', '--import', 'tsx', holder, join(location, 'index.sqlite'), '90000'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        lock.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && resolve());
        lock.on('exit', (code) => reject(new Error(`the lock holder exited (${code})`)));
      });
      const started = Date.now();
      const run = spawnSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', program, location], { cwd: root, encoding: 'utf8', timeout: 80_000 });
      const wallMs = Date.now() - started;
      expect(run.signal, `still running after ${wallMs} ms`).toBe(null);
      expect(run.status).toBe(0);
      const [calls, exit] = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { callsMs?: number; wrong?: number; exitMs?: number });
      expect(calls!.wrong).toBe(0);
      expect(calls!.callsMs).toBeLessThan(5_000); // the calls never wait on the index
      // One flush waits out the 15 s busy timeout, fails and warns; then the process ends.
      expect(run.stderr.trim().split('\n')).toEqual(['LARDER_INDEX']);
      expect(exit!.exitMs).toBeLessThan(50_000);
    } finally {
      lock.kill();
    }
  }, 120_000);
});
