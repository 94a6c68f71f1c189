/**
 * Regression: an eager load allocated and filled a buffer of the file's size
 * before it looked at a single byte. A 2 GB sparse file that is not ours (or
 * one with a forged larder header) cost 4 GB of memory and 30-55 s of reading
 * zeros before its FormatError. Large files now have their head checked first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dumpSync } from '@larder/store-fs';
import { encodeHeader, HEADER_SIZE } from '../src/header.js';
import { MiB, runCase } from './child.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
const GiB = 1024 * MiB;

/** A sparse file of `size` bytes starting with `head`. */
function sparse(name: string, size: number, head: Uint8Array = new Uint8Array(0)): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, head);
  fs.truncateSync(file, size);
  return file;
}

const EVERY_LOAD = JSON.stringify([
  ['sync', {}], ['async', {}], ['sync', { shared: true }], ['async', { shared: true }], ['sync', { mmap: 'r' }], ['async', { mmap: 'r' }],
]);

/** Loads `file` every way in a child; each must be a FormatError matching `message`, within a small memory budget. */
async function expectRefusedSmall(file: string, message: RegExp): Promise<void> {
  const report = await runCase('loads', [file, EVERY_LOAD], 240_000);
  const outcomes = report.result as { error?: { code?: string; message: string } }[];
  expect(outcomes).toHaveLength(6);
  for (const outcome of outcomes) {
    expect(outcome.error?.code).toBe('LARDER_FORMAT');
    expect(outcome.error?.message).toMatch(message);
  }
  expect(report.maxRss - report.baseRss).toBeLessThan(64 * MiB);
}

describe('large files that are not ours are refused before a buffer of their size is filled', () => {
  it('a 2 GiB sparse file of zeros: FormatError "not a larder file", in every load mode, within 64 MiB (child process)', async () => {
    await expectRefusedSmall(sparse('zeros.larder', 2 * GiB), /not a larder file/);
  }, 240_000);

  it('a valid larder file followed by 1 GiB of sparse junk: FormatError "truncated or has junk appended" (child process)', async () => {
    const small = path.join(dir, 'small.larder');
    dumpSync({ a: [1, 2, 3] }, small);
    await expectRefusedSmall(sparse('appended.larder', GiB, fs.readFileSync(small)), /junk appended/);
  }, 240_000);

  it('a forged header matching a 1 GiB sparse file, over a manifest that is not one: FormatError (child process)', async () => {
    const size = GiB;
    const header = encodeHeader({ compression: 'none', manifestLength: 4096, payloadLength: size - HEADER_SIZE, storedLength: size - HEADER_SIZE, manifestChecksum: 12345n });
    await expectRefusedSmall(sparse('forged.larder', size, header), /manifest checksum mismatch/);
  }, 240_000);

  it.each(['gzip', 'brotli'] as const)('a forged %s header over 1 GiB of sparse zeros (no stream): FormatError "does not decompress" (child process)', async (method) => {
    const size = GiB;
    const header = encodeHeader({ compression: method, manifestLength: 4096, payloadLength: size, storedLength: size - HEADER_SIZE, manifestChecksum: 12345n });
    await expectRefusedSmall(sparse(`forged-${method}.larder`, size, header), /does not decompress/);
  }, 240_000);

  it('large valid files, plain and compressed, still load in every mode (the head check lets them through)', async () => {
    const { load, loadSync } = await import('@larder/store-fs');
    const value = { big: new Float64Array(300_000).map((_, i) => i), text: 'x'.repeat(70_000), list: Array.from({ length: 5000 }, (_, i) => ({ i })) };
    for (const compress of [undefined, 'gzip', 'brotli'] as const) {
      const file = path.join(dir, `valid-${compress ?? 'plain'}.larder`);
      dumpSync(value, file, compress === undefined ? {} : { compress });
      if (compress === undefined) expect(fs.statSync(file).size).toBeGreaterThan(2 * MiB);
      for (const options of [{}, { shared: true }, { mmap: 'r' as const }]) {
        for (const back of [loadSync<typeof value>(file, options), await load<typeof value>(file, options)]) {
          expect(back.text).toBe(value.text);
          expect(back.list).toStrictEqual(value.list);
          const big = back.big instanceof Float64Array ? back.big : back.big.toArray(); // a MappedArray without the addon
          expect(Array.from(big.subarray(299_990))).toEqual(Array.from(value.big.subarray(299_990)));
        }
      }
    }
  });
});
