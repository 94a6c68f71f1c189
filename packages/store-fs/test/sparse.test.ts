/**
 * Regression: huge sparse arrays. Holes were stored as one 4-byte slot each,
 * and the encoder built a JavaScript array of them: `a = []; a.length = 1.2e8`
 * aborted the process with an uncatchable V8 fatal error, and at 1e8 the file
 * was 400 MB. Sparse arrays are now (index, node) pairs plus the length.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dump, dumpSync, FormatError, load, loadSync } from '@larder/store-fs';
import { Kind } from '../src/manifest.js';
import { runCase, MiB } from './child.js';
import { craftFile } from './file-surgery.js';
import { LOAD_MODES as MODES } from './load-modes.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
let counter = 0;
const file = (): string => path.join(dir, `sp${counter++}.larder`);

describe('sparse arrays: holes stay holes and cost nothing', () => {
  it('`a = []; a.length = 1.2e8` dumps to a few hundred bytes and loads back all holes (child process)', async () => {
    const target = file();
    const report = await runCase('sparse', [target, String(1.2e8)]);
    expect(report.error).toBeUndefined();
    expect(report.result).toMatchObject({ length: 1.2e8, present: [], holeAt1: false });
    expect((report.result as { bytes: number }).bytes).toBeLessThan(1024);
    expect(report.maxRss - report.baseRss).toBeLessThan(64 * MiB);
  }, 120_000);

  it('a few elements at huge indices (up to 2^32 - 2) store in small space and come back at their indices (child process)', async () => {
    const target = file();
    const report = await runCase('sparse', [target, String(1e8), '0', '77777777', '99999999', String(2 ** 32 - 2)]);
    expect(report.error).toBeUndefined();
    expect(report.result).toMatchObject({
      length: 2 ** 32 - 1,
      present: ['0', '77777777', '99999999', String(2 ** 32 - 2)],
      values: ['at 0', 'at 77777777', 'at 99999999', `at ${2 ** 32 - 2}`],
      holeAt1: false,
    });
    expect((report.result as { bytes: number }).bytes).toBeLessThan(1024);
    expect(report.maxRss - report.baseRss).toBeLessThan(64 * MiB);
  }, 120_000);

  it('holes round-trip as holes in short and long, mostly-full and mostly-empty arrays, in every mode, sync and async', async () => {
    const short = [1, , 3, , , 'x']; // eslint-disable-line no-sparse-arrays
    const longFull = Array.from({ length: 5000 }, (_, i) => (i % 7 === 0 ? undefined : { i }));
    for (let i = 0; i < 5000; i += 7) delete longFull[i];
    const longEmpty: unknown[] = [];
    longEmpty.length = 100_000;
    longEmpty[3] = 'three';
    longEmpty[99_998] = [undefined];
    const withUndefined = Array<unknown>(300).fill(undefined); // present undefined is not a hole
    delete withUndefined[5];
    const shared = { s: 1 };
    const sparseShared: unknown[] = [];
    sparseShared[1000] = shared;
    sparseShared[2000] = shared;
    sparseShared[3000] = sparseShared; // a cycle through a sparse array
    const value = { short, longFull, longEmpty, withUndefined, sparseShared };
    const alone = file();
    dumpSync(longEmpty, alone);
    expect(fs.statSync(alone).size).toBeLessThan(1024);
    const target = file();
    await dump(value, target);
    for (const [, options] of MODES) {
      for (const back of [loadSync<typeof value>(target, options), await load<typeof value>(target, options)]) {
        expect(back.short).toStrictEqual(short);
        expect([1 in back.short, 3 in back.short, 4 in back.short]).toEqual([false, false, false]);
        expect(back.longFull).toStrictEqual(longFull);
        expect(Object.keys(back.longFull).length).toBe(Object.keys(longFull).length);
        expect(back.longEmpty.length).toBe(100_000);
        expect(Object.keys(back.longEmpty)).toEqual(['3', '99998']);
        expect(back.longEmpty[99_998]).toEqual([undefined]);
        expect(4 in back.withUndefined).toBe(true);
        expect(5 in back.withUndefined).toBe(false);
        expect(back.sparseShared[1000]).toBe(back.sparseShared[2000]);
        expect(back.sparseShared[3000]).toBe(back.sparseShared);
        expect(Object.keys(back.sparseShared)).toEqual(['1000', '2000', '3000']);
      }
    }
  });

  it('an UnsupportedValueError names where an element sits at a huge index of a sparse array', () => {
    const array: unknown[] = [];
    array[3e9] = () => 1;
    expect(() => dumpSync({ a: array }, file())).toThrow(expect.objectContaining({ code: 'LARDER_UNSUPPORTED', path: '$.a[3000000000]' }));
  });

  it('a string whose manifest would pass the 1 GiB format limit is an UnsupportedValueError before any allocation (child process)', async () => {
    // 3.6e8 × '€' (3 UTF-8 bytes) = 1.08 GB of text; the string itself is 720 MB in V8.
    const report = await runCase('longString', [file(), '€', String(3.6e8)], 240_000);
    expect(report.error).toMatchObject({ name: 'UnsupportedValueError', code: 'LARDER_UNSUPPORTED' });
    expect(report.error!.message).toMatch(/^\[larder\/store-fs\] \$ is more than the format can describe/);
    // The string is 720 MB; the refused manifest must not add its 1 GB on top.
    expect(report.maxRss).toBeLessThan(report.baseRss + 720 * 1e6 + 256 * MiB);
  }, 240_000);
});

describe('sparse arrays: hostile manifests', () => {
  const sparse = (length: number, pairs: readonly number[], version = 2): string => {
    const target = file();
    fs.writeFileSync(target, craftFile([{ kind: Kind.SparseArray, number: length, children: [...pairs] }, { kind: Kind.Null }], version));
    return target;
  };

  it('a length of 2^32 - 1 with no elements is legal and cheap: an array of that length, all holes', () => {
    const target = sparse(2 ** 32 - 1, []);
    for (const [, options] of MODES) {
      const back = loadSync<unknown[]>(target, options);
      expect(back.length).toBe(2 ** 32 - 1);
      expect(Object.keys(back)).toEqual([]);
    }
  });

  it.each([
    ['a length of 2^32', 2 ** 32, []],
    ['a negative length', -1, []],
    ['a fractional length', 1.5, []],
    ['a NaN length', NaN, []],
    ['an index at the length', 10, [10, 1]],
    ['indices out of order', 10, [5, 1, 4, 1]],
    ['a repeated index', 10, [5, 1, 5, 1]],
    ['an odd number of children', 10, [5]],
    ['a child index past the nodes', 10, [5, 99]],
  ] as const)('%s is a FormatError', (_name, length, pairs) => {
    const target = sparse(length, pairs);
    for (const [, options] of MODES) expect(() => loadSync(target, options)).toThrow(FormatError);
  });

  it('a format-version-1 file using the version-2 sparse kind is a FormatError', () => {
    const target = sparse(10, [5, 1], 1);
    for (const [, options] of MODES) expect(() => loadSync(target, options)).toThrow(/unknown kind 18 for format version 1/);
  });
});
