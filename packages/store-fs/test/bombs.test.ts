/**
 * Regression: decompression bombs. A 948-byte brotli file that inflated to
 * 1 GiB took 2.1 GB of RSS and blocked the event loop for seconds before its
 * manifest was checked. Now: the manifest is inflated and checked first
 * (async), the payload goes into one buffer of the declared size, a stream
 * longer than declared is a FormatError at once, and `load` inflates in
 * pieces off the event loop. Each heavy case runs in a child process whose
 * peak RSS (and event-loop stall) is measured; bounds are wide.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FormatError, loadSync } from '@larder/store-fs';
import { hasZstd } from '../src/compression.js';
import { runCase, MiB, type ChildReport } from './child.js';
import { craftZeroBomb, editHeader, type ZeroBomb } from './file-surgery.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
/** The declared (and, for the legitimate files, true) payload of the big cases. */
const BIG = 96 * MiB;
/**
 * Room for what a load needs beside the payload: the stored bytes, the
 * manifest, zlib's state, the thread pool and the pieces not yet collected
 * (measured: ~5 MB for loadSync, ~35 MB for load, whatever the payload
 * size). Below BIG, so a second copy of the payload (a chunk list joined at
 * the end, as before) fails the bound: measured 198 MB before, against 168.
 */
const SLACK = 64 * MiB;
/** Growth allowed to a load that inflates one legitimate payload: it, the slack, and 16 MiB for Node 24's heap (seen 1.6 MiB past BIG + SLACK in CI). */
const ONE_PAYLOAD = BIG + SLACK + 16 * MiB;
/** Child processes on a loaded 2-core machine: inflating 96 MiB can take seconds. */
const SLOW = 240_000;
const METHODS = hasZstd() ? (['gzip', 'brotli', 'zstd'] as const) : (['gzip', 'brotli'] as const);

const files = new Map<string, string>();
async function bomb(name: string, spec: ZeroBomb): Promise<string> {
  const target = path.join(dir, `${name}.larder`);
  fs.writeFileSync(target, await craftZeroBomb(spec));
  files.set(name, target);
  return target;
}

function load(how: 'sync' | 'async', file: string, options: object = {}): Promise<ChildReport> {
  return runCase('load', [how, file, JSON.stringify(options)]);
}

interface Outcome {
  result?: unknown;
  error?: { name: string; code?: string; message: string };
}

/** Loads that must each stay small, run in one child: its peak RSS bounds them all. */
async function loads(file: string, list: readonly (readonly ['sync' | 'async', object])[]): Promise<Outcome[]> {
  const report = await runCase('loads', [file, JSON.stringify(list)]);
  expect(grew(report)).toBeLessThan(SLACK);
  return report.result as Outcome[];
}

function grew(report: ChildReport): number {
  return report.maxRss - report.baseRss;
}

describe.each(METHODS)('decompression bombs (%s)', (method) => {
  beforeAll(async () => {
    await bomb(`${method}-legit`, { method, zeros: BIG });
    await bomb(`${method}-bad-manifest`, { method, zeros: BIG, badManifest: true });
    await bomb(`${method}-longer`, { method, zeros: MiB, trailing: BIG });
  }, 120_000);

  it('the files are small: a few hundred KB at most for 96 MiB', () => {
    for (const [name, file] of files) if (name.startsWith(method)) expect(fs.statSync(file).size).toBeLessThan(512 * 1024);
  });

  it('a bomb with a bad manifest is refused before the payload is inflated: async load stays small, in every mode', async () => {
    const outcomes = await loads(files.get(`${method}-bad-manifest`)!, [['async', {}], ['async', { shared: true }], ['async', { mmap: 'r' }]]);
    for (const outcome of outcomes) {
      expect(outcome.error).toMatchObject({ name: 'FormatError', code: 'LARDER_FORMAT' });
      expect(outcome.error!.message).toMatch(/manifest checksum mismatch/);
    }
  }, SLOW);

  it('loadSync of a bomb with a bad manifest is a FormatError within one payload of memory', async () => {
    const report = await load('sync', files.get(`${method}-bad-manifest`)!);
    expect(report.error).toMatchObject({ name: 'FormatError', code: 'LARDER_FORMAT' });
    expect(grew(report)).toBeLessThan(ONE_PAYLOAD);
  }, SLOW);

  it('a stream that inflates past the declared payload is a FormatError at once, in every mode, sync and async', async () => {
    const modes = [{}, { shared: true }, { mmap: 'r' }];
    const outcomes = await loads(files.get(`${method}-longer`)!, modes.flatMap((options) => [['sync', options], ['async', options]] as const));
    expect(outcomes).toHaveLength(6);
    for (const outcome of outcomes) {
      expect(outcome.error).toMatchObject({ name: 'FormatError', code: 'LARDER_FORMAT' });
      expect(outcome.error!.message).toMatch(/inflates to more than the \d+ bytes the header declares/);
    }
  }, SLOW);

  it('a legitimate 96 MiB payload loads within one payload of memory (no chunk list concatenated at the end)', async () => {
    for (const [how, options] of [['sync', {}], ['async', { shared: true }], ['sync', { mmap: 'r' }]] as const) {
      const report = await load(how, files.get(`${method}-legit`)!, options);
      expect(report.error).toBeUndefined();
      expect(report.result).toMatchObject({ kind: 'Uint8Array', byteLength: BIG, allZero: true, shared: 'shared' in options });
      expect(grew(report)).toBeLessThan(ONE_PAYLOAD);
    }
  }, SLOW);

  it('async load inflates in pieces: the event loop keeps ticking through a 96 MiB inflate, within one payload of memory', async () => {
    const report = await load('async', files.get(`${method}-legit`)!);
    expect(report.error).toBeUndefined();
    expect(report.result).toMatchObject({ kind: 'Uint8Array', byteLength: BIG, allZero: true });
    // Before, one synchronous inflate blocked the loop for the whole load: the longest stall was the load.
    expect(report.maxGapMs).toBeLessThan(report.ms / 3);
    expect(grew(report)).toBeLessThan(ONE_PAYLOAD);
  }, SLOW);
});

describe('decompression: claims checked before anything is inflated', () => {
  it('a gzip header claiming more than deflate can inflate its bytes to is a FormatError, without inflating', async () => {
    const file = path.join(dir, 'gzip-claim.larder');
    const small = await craftZeroBomb({ method: 'gzip', zeros: 4096 });
    fs.writeFileSync(file, editHeader(small, { payloadLength: 2 ** 31 }));
    expect(() => loadSync(file)).toThrow(/more than \d+ bytes of gzip can inflate to/);
  });

  it.each(METHODS)('a %s header claiming more than one buffer can hold is a FormatError', async (method) => {
    const file = path.join(dir, `${method}-huge-claim.larder`);
    fs.writeFileSync(file, editHeader(await craftZeroBomb({ method, zeros: 4096 }), { payloadLength: 2 ** 50 }));
    expect(() => loadSync(file)).toThrow(FormatError);
  });
});
