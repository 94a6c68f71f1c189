/**
 * mappedReference / openReference / mapReference: a mapped typed array as a
 * file reference that another thread of this process maps again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dumpSync, loadSync, mappedReference, mapReference, MappedArray, openReference, verify } from '@larder/store-fs';
import { nativeAddon } from '../src/native.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
const values = Float64Array.from({ length: 1 << 16 }, (_, i) => i / 8);

function mappedX(name: string): { file: string; x: Float64Array } {
  const file = path.join(dir, name);
  dumpSync({ small: 1, x: values }, file);
  const { x } = loadSync<{ x: Float64Array }>(file, { mmap: 'r' });
  if (x instanceof MappedArray) throw new Error('expected a real mapped array (is the addon missing?)');
  return { file, x };
}

describe('mapped references', () => {
  it('a mapped array refers to its bytes in the file; mapping the reference gives an equal, verifiable, separate copy-on-write array', () => {
    const { file, x } = mappedX('ref.larder');
    const reference = mappedReference(x)!;
    expect(reference).toMatchObject({ file, byteLength: values.byteLength, type: 'Float64Array', index: 0 });
    expect(fs.readFileSync(file).subarray(reference.position, reference.position + 16)).toStrictEqual(Buffer.from(values.buffer, 0, 16));
    const fd = openReference(reference)!;
    try {
      const again = mapReference(reference, fd) as Float64Array;
      expect(again).toStrictEqual(values);
      expect(again.buffer).not.toBe(x.buffer);
      expect(verify(again)).toEqual({ arrays: 1, bytes: values.byteLength });
      expect(mappedReference(again)).toEqual(reference);
      again[3] = -1;
      expect(x[3]).toBe(3 / 8);
      expect(mappedReference(again)).toBeUndefined();
    } finally {
      fs.closeSync(fd);
    }
  });

  it('with reuse, a second mapping of the same bytes is a new view over the first while no page of it was written, and a fresh mapping after a write', () => {
    const { x } = mappedX('reuse.larder');
    const reference = mappedReference(x)!;
    const fd = openReference(reference)!;
    try {
      const first = mapReference(reference, fd, { reuse: true }) as Float64Array;
      expect(first.buffer).not.toBe(x.buffer);
      const second = mapReference(reference, fd, { reuse: true }) as Float64Array;
      expect(second).not.toBe(first);
      expect(second.buffer).toBe(first.buffer);
      expect(mappedReference(second)).toEqual(reference);
      expect(mapReference(reference, fd).buffer).not.toBe(first.buffer); // without reuse: always a mapping of its own
      second[2] = -1;
      const third = mapReference(reference, fd, { reuse: true }) as Float64Array;
      expect(third.buffer).not.toBe(first.buffer);
      expect(third[2]).toBe(2 / 8);
      expect(first[2]).toBe(-1); // the same pages as second
      expect(x[2]).toBe(2 / 8);
      expect(mapReference(reference, fd, { reuse: true }).buffer).toBe(third.buffer);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('arrays built in memory, subarrays and written mapped arrays have no reference', () => {
    const { x } = mappedX('none.larder');
    expect(mappedReference(values)).toBeUndefined();
    expect(mappedReference(x.subarray(1))).toBeUndefined();
    expect(nativeAddon()!.pristine(x)).toBe(true);
    x[0] = 1;
    expect(nativeAddon()!.pristine(x)).toBe(false);
    expect(mappedReference(x)).toBeUndefined();
  });

  it('a path that names another file now (replaced by rename, removed) opens to undefined; a closed descriptor does not map', () => {
    const { file, x } = mappedX('replaced.larder');
    const reference = mappedReference(x)!;
    dumpSync({ small: 1, x: values }, `${file}.new`);
    fs.renameSync(`${file}.new`, file);
    expect(openReference(reference)).toBeUndefined();
    fs.rmSync(file);
    expect(openReference(reference)).toBeUndefined();
    const other = mappedX('other.larder');
    const fd = openReference(mappedReference(other.x)!)!;
    fs.closeSync(fd);
    expect(() => mapReference(mappedReference(other.x)!, fd)).toThrow(expect.objectContaining({ code: 'LARDER_CLOSED' }));
  });
});
