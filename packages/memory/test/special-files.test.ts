/**
 * Something other than a regular file where larder expects one of its files:
 * a cached call still returns its value, at once (a FIFO read plainly waits
 * for a writer forever). Each case runs in a child process with a time limit.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const script = fileURLToPath(new URL('./fixtures/fifo-lease.ts', import.meta.url));

describe('special files in a location', () => {
  it.skipIf(process.platform === 'win32')('a FIFO as an entry\'s lease file: the call returns its value, no hang', () => {
    const out = execFileSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', script, tempDir()], { timeout: 30_000, encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ value: 2 });
  });

  // Regression: the lease file was read whole as text (a planted 1 GiB sparse one cost a 1 GiB read and more
  // at every look, then was judged unreadable anyway), and the marker and CACHEDIR.TAG the same way.
  it.each(['lease', 'marker', 'tag'])('a 1 GiB sparse file as the %s: the call returns its value without reading it whole (child process)', (where) => {
    const planted = fileURLToPath(new URL('./fixtures/huge-planted.ts', import.meta.url));
    const out = execFileSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', planted, tempDir(), where, String(2 ** 30)], { timeout: 120_000, encoding: 'utf8' });
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as { value: number; grewBy: number };
    expect(report.value).toBe(2);
    expect(report.grewBy).toBeLessThan(64 * 2 ** 20);
  }, 150_000);
});
