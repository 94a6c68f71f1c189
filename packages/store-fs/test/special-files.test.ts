/**
 * A path that names something other than a regular file: a FIFO, a folder,
 * a device. Every read is a FormatError at once, never a hang (a FIFO opened
 * plainly blocks until a writer comes, forever) nor a read of endless bytes.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
const script = fileURLToPath(new URL('./fixtures/special-file-case.ts', import.meta.url));

function readEveryWay(file: string): { way: string; outcome: string; code?: string; message?: string }[] {
  const out = execFileSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', script, file], { timeout: 30_000, encoding: 'utf8' });
  return out.trim().split('\n').map((line) => JSON.parse(line) as { way: string; outcome: string; code?: string });
}

describe('special files', () => {
  it.skipIf(process.platform === 'win32')('a FIFO in place of a file is a FormatError from every read, at once', () => {
    const fifo = path.join(dir, '0123456789abcdef.larder');
    execFileSync('mkfifo', [fifo]);
    const results = readEveryWay(fifo);
    expect(results).toHaveLength(6);
    for (const result of results) {
      expect(result, result.way).toMatchObject({ outcome: 'FormatError', code: 'LARDER_FORMAT' });
      expect(result.message).toMatch(/FIFO/);
    }
  });

  it.skipIf(process.platform === 'win32')('a character device (/dev/zero) is a FormatError, not endless zeros', () => {
    const results = readEveryWay('/dev/zero');
    for (const result of results.filter((r) => !r.way.startsWith('store'))) expect(result, result.way).toMatchObject({ outcome: 'FormatError', code: 'LARDER_FORMAT' });
  });

  it('a folder where a file should be: loads throw EISDIR, a store finds no value there', () => {
    const folder = path.join(dir, 'fedcba9876543210.larder');
    fs.mkdirSync(folder);
    for (const result of readEveryWay(folder)) {
      if (result.way.startsWith('store')) expect(result.outcome, result.way).toBe('undefined');
      else expect(result, result.way).toMatchObject({ code: 'EISDIR' });
    }
  });
});
