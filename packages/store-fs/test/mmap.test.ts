import { constants as bufferConstants } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeLoaded, dumpSync, load, loadSync, MappedArray } from '@larder/store-fs';
import { disableAddonForTests } from '../src/native.js';
import { encodeHeader, HEADER_SIZE } from '../src/header.js';
import { writeSparseFloat64File } from './sparse-file.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();

/** The tests of this describe run as where the addon cannot load. */
function withoutAddon(): void {
  beforeAll(() => disableAddonForTests(true));
  afterAll(() => disableAddonForTests(false));
}

describe("load(..., { mmap: 'r' }) where the addon is missing: MappedArrays", () => {
  withoutAddon();
  const file = path.join(dir, 'm.larder');
  const big = new Float64Array(20_000).map((_, i) => i * 0.5);
  const small = Int32Array.of(1, 2, 3);
  dumpSync({ big, small, label: 'run', ints: new BigInt64Array(20_000).map((_, i) => BigInt(i) - 5n) }, file);
  type Loaded = { big: MappedArray<Float64Array>; small: Int32Array; label: string; ints: MappedArray<BigInt64Array> };

  it('typed arrays above the threshold become MappedArrays, small values are decoded', async () => {
    const value = await load<Loaded>(file, { mmap: 'r' });
    expect(value.big).toBeInstanceOf(MappedArray);
    expect(ArrayBuffer.isView(value.big)).toBe(false);
    expect(value.small).toStrictEqual(small);
    expect(value.label).toBe('run');
    value.big.close();
  });

  it('length, byteLength, at (negative from the end), slice and toArray read the right elements', () => {
    const { big, ints } = loadSync<Loaded>(file, { mmap: 'r' });
    expect([big.length, big.byteLength, big.type]).toStrictEqual([20_000, 160_000, Float64Array]);
    expect([big.at(0), big.at(1), big.at(19_999), big.at(-1), big.at(-20_000), big.at(20_000), big.at(-20_001)]).toStrictEqual([
      0, 0.5, 9_999.5, 9_999.5, 0, undefined, undefined,
    ]);
    expect(big.at(9000)).toBe(4500); // a different block than the last read
    // Regression: at(NaN) was undefined; a TypedArray reads element 0, and so does a MappedArray.
    const plain = big.toArray();
    for (const index of [NaN, 0.9, -0.5, 1.5, -1.5, Infinity, -Infinity]) expect(big.at(index)).toBe(plain.at(index));
    expect(big.slice(10, 13)).toStrictEqual(Float64Array.of(5, 5.5, 6));
    expect(big.slice(-2)).toStrictEqual(Float64Array.of(9_999, 9_999.5));
    expect(big.slice(5, 2)).toStrictEqual(new Float64Array(0));
    expect(big.toArray()).toStrictEqual(big.slice());
    expect(ints.at(-1)).toBe(19_994n);
    big.close();
  });

  it('chunks(n) iterates the whole array in pieces of n', () => {
    const { big } = loadSync<Loaded>(file, { mmap: 'r' });
    const chunks = [...big.chunks(3000)];
    expect(chunks.map((chunk) => chunk.length)).toStrictEqual([3000, 3000, 3000, 3000, 3000, 3000, 2000]);
    expect(chunks.every((chunk) => chunk instanceof Float64Array)).toBe(true);
    const joined = new Float64Array(big.length);
    let at = 0;
    for (const chunk of chunks) {
      joined.set(chunk, at);
      at += chunk.length;
    }
    expect(joined).toStrictEqual(big.toArray());
    expect(() => [...big.chunks(0)]).toThrow('chunk size must be a positive integer, got 0');
    big.verify();
    big.close();
  });

  it('mmapThreshold decides which arrays are mapped', () => {
    const all = loadSync<Loaded>(file, { mmap: 'r', mmapThreshold: 0 });
    expect(all.small).toBeInstanceOf(MappedArray);
    all.big.close();
    const none = loadSync<Loaded>(file, { mmap: 'r', mmapThreshold: 10_000_000 });
    expect(none.big).toBeInstanceOf(Float64Array);
  });

  it('with shared, the arrays that are read sit on a SharedArrayBuffer', () => {
    const value = loadSync<Loaded>(file, { mmap: 'r', shared: true });
    expect((value.small as Int32Array).buffer).toBeInstanceOf(SharedArrayBuffer);
    value.big.close();
  });

  it('a MappedArray keeps reading the file it opened after that file is atomically replaced', () => {
    const target = path.join(dir, 'replaced.larder');
    dumpSync(new Float64Array(10_000).fill(1), target);
    const mapped = loadSync<MappedArray<Float64Array>>(target, { mmap: 'r' });
    dumpSync(new Float64Array(10_000).fill(2), target);
    expect(mapped.at(0)).toBe(1);
    mapped.close();
    expect(() => mapped.at(5000)).toThrow('used after close()');
  });

  it('a compressed file is loaded eagerly (its bytes cannot be read in place)', () => {
    const target = path.join(dir, 'gz.larder');
    dumpSync({ big }, target, { compress: true });
    expect(loadSync<{ big: Float64Array }>(target, { mmap: 'r' }).big).toStrictEqual(big);
  });

  it('opens a 6 GB sparse file in O(1) and reads its last element', () => {
    const target = path.join(dir, 'huge.larder');
    const elements = 750_000_000; // 6 GB of Float64
    const byteLength = elements * 8;
    writeSparseFloat64File(target, { length: elements, last: 42.5 });
    const mapped = loadSync<MappedArray<Float64Array>>(target, { mmap: 'r' });
    expect(mapped.length).toBe(elements);
    expect(mapped.at(-1)).toBe(42.5);
    expect(mapped.at(elements / 2)).toBe(0);
    expect(mapped.slice(-2)).toStrictEqual(Float64Array.of(0, 42.5));
    // Node 20 caps a typed array near 4 GiB; Node 22+ would really allocate 6 GB here, so only check the refusal where it applies.
    if (byteLength > bufferConstants.MAX_LENGTH) expect(() => mapped.toArray()).toThrow(/more than one typed array can/);
    mapped.close();
    fs.rmSync(target);
  });
});

// Only where one buffer is capped near 4 GiB (Node 20): on newer Node an eager load would really allocate it.
describe.skipIf(bufferConstants.MAX_LENGTH > 2 ** 33)('an eager load of a file no buffer can hold', () => {
  it("throws a RangeError with code 'LARDER_TOO_LARGE' (not a FormatError: the file may be fine)", async () => {
    const target = path.join(dir, 'too-large.larder');
    fs.writeFileSync(target, '');
    fs.truncateSync(target, bufferConstants.MAX_LENGTH + 1); // sparse; refused before anything is read
    const tooLarge = expect.objectContaining({ name: 'RangeError', code: 'LARDER_TOO_LARGE', message: expect.stringContaining("load it with { mmap: 'r' }") });
    expect(() => loadSync(target)).toThrow(tooLarge);
    await expect(load(target)).rejects.toThrow(tooLarge);
    // A compressed file cannot be mapped, so mmap loads it eagerly: the code passes through as well.
    const size = bufferConstants.MAX_LENGTH + 1;
    const header = encodeHeader({ compression: 'gzip', manifestLength: 64, payloadLength: 1 << 20, storedLength: size - HEADER_SIZE, manifestChecksum: 0n });
    fs.writeFileSync(target, header);
    fs.truncateSync(target, size);
    expect(() => loadSync(target, { mmap: 'r' })).toThrow(tooLarge);
    fs.rmSync(target);
  });
});

describe('closeLoaded (MappedArrays, where the addon is missing)', () => {
  withoutAddon();
  const openDescriptors = (): number => fs.readdirSync('/proc/self/fd').length;

  it('closes the file of a 50 000-level deep mmap load in O(1), without a stack overflow', () => {
    const target = path.join(dir, 'deep-mapped.larder');
    let deep: unknown = new Float64Array(100_000).fill(2.5);
    for (let i = 0; i < 50_000; i++) deep = [deep];
    dumpSync(deep, target);
    const before = openDescriptors();
    const value = loadSync<unknown>(target, { mmap: 'r', mmapThreshold: 1024 });
    expect(openDescriptors()).toBe(before + 1);
    let inner: unknown = value;
    for (let i = 0; i < 50_000; i++) inner = (inner as unknown[])[0];
    const mapped = inner as MappedArray<Float64Array>;
    expect(mapped.at(-1)).toBe(2.5);
    closeLoaded(value);
    expect(openDescriptors()).toBe(before);
    expect(() => mapped.at(0)).toThrow('used after close()');
    closeLoaded(value); // twice is fine
  });

  it('leaves alone what is not the root of an mmap load that mapped arrays', () => {
    const target = path.join(dir, 'close-inner.larder');
    dumpSync({ inner: { x: new Float64Array(10_000).fill(1) } }, target);
    const value = loadSync<{ inner: { x: MappedArray<Float64Array> } }>(target, { mmap: 'r' });
    closeLoaded(value.inner); // a part of the value, not the root: a no-op
    expect(value.inner.x.at(0)).toBe(1);
    for (const other of [undefined, null, 1, 'text', {}, loadSync(target), loadSync(target, { mmap: 'r', mmapThreshold: 1 << 30 })]) {
      expect(() => closeLoaded(other)).not.toThrow();
    }
    closeLoaded(value);
    expect(() => value.inner.x.at(0)).toThrow('used after close()');
  });
});
