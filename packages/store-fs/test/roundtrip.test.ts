import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dump, dumpSync, load, loadSync, type TypedArray } from '@larder/store-fs';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
let counter = 0;
const file = (): string => path.join(dir, `v${counter++}.larder`);

async function roundtrip<T>(value: T): Promise<T> {
  const target = file();
  dumpSync(value, target);
  const viaSync = loadSync<T>(target);
  await dump(value, target);
  const viaAsync = await load<T>(target);
  expect(viaAsync).toStrictEqual(viaSync);
  return viaSync;
}

describe('roundtrip: every value kind comes back as it went in', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
    ['true', true],
    ['false', false],
    ['an integer', 42],
    ['a float', 0.1 + 0.2],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['a bigint', -(2n ** 200n) + 7n],
    ['a zero bigint', 0n],
    ['an empty string', ''],
    ['a unicode string', 'héllo wörld 🎉'],
    ['an empty object', {}],
    ['an empty array', []],
  ])('%s', async (_name, value) => {
    expect(await roundtrip(value)).toStrictEqual(value);
  });

  it('NaN and -0 are kept', async () => {
    const back = await roundtrip([NaN, -0, 0, [-0, -0, -0, -0, -0, -0, -0, -0, 1]]);
    expect(Number.isNaN(back[0])).toBe(true);
    expect(Object.is(back[1], -0)).toBe(true);
    expect(Object.is(back[2], 0)).toBe(true);
    expect(Object.is((back[3] as number[])[7], -0)).toBe(true);
  });

  it('a string with a lone surrogate keeps its code units', async () => {
    expect(await roundtrip({ s: 'a\uD800b\uDFFF' })).toStrictEqual({ s: 'a\uD800b\uDFFF' });
  });

  it('Date, Map and Set come back with insertion order', async () => {
    const value = {
      when: new Date(1_700_000_000_123),
      invalid: new Date(NaN),
      map: new Map<unknown, unknown>([['z', 1], [2, 'two'], [{ k: 1 }, [3]]]),
      set: new Set(['c', 'a', 'b']),
    };
    const back = await roundtrip(value);
    expect(back).toStrictEqual(value);
    expect([...back.map.keys()].slice(0, 2)).toStrictEqual(['z', 2]);
    expect([...back.set]).toStrictEqual(['c', 'a', 'b']);
  });

  it('object keys whose value is undefined are kept, and "__proto__" stays an own key', async () => {
    const value = JSON.parse('{"a":1,"__proto__":{"polluted":true}}') as Record<string, unknown>;
    value.b = undefined;
    const back = await roundtrip(value);
    expect(Object.keys(back)).toStrictEqual(['a', '__proto__', 'b']);
    expect('b' in back).toBe(true);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('sparse arrays keep their holes', async () => {
    // eslint-disable-next-line no-sparse-arrays
    const back = await roundtrip([1, , 3, , ,]);
    expect(back.length).toBe(5);
    expect(1 in back).toBe(false);
    expect(2 in back).toBe(true);
  });

  const kinds: TypedArray[] = [
    Int8Array.of(-1, 2), Uint8Array.of(1, 255), Uint8ClampedArray.of(0, 255), Int16Array.of(-300, 300),
    Uint16Array.of(65535), Int32Array.of(-(2 ** 31)), Uint32Array.of(2 ** 32 - 1), Float32Array.of(1.5, NaN),
    Float64Array.of(Math.PI, -0), BigInt64Array.of(-(2n ** 63n)), BigUint64Array.of(2n ** 64n - 1n),
  ];
  it.each(kinds.map((array) => [array.constructor.name, array] as const))('%s comes back as the same kind', async (_name, array) => {
    const back = await roundtrip(array);
    expect(back.constructor).toBe(array.constructor);
    expect(back).toStrictEqual(array);
  });

  it('Buffer comes back a Buffer; ArrayBuffer and DataView come back as themselves', async () => {
    const value = { buf: Buffer.from('bytes'), ab: Uint8Array.of(1, 2, 3).buffer, dv: new DataView(Uint8Array.of(9, 8, 7, 6).buffer, 1, 2) };
    const back = await roundtrip(value);
    expect(Buffer.isBuffer(back.buf)).toBe(true);
    expect(back.buf.toString()).toBe('bytes');
    expect(back.ab).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(back.ab)]).toStrictEqual([1, 2, 3]);
    expect(back.dv).toBeInstanceOf(DataView);
    expect([back.dv.getUint8(0), back.dv.getUint8(1), back.dv.byteLength]).toStrictEqual([8, 7, 2]);
  });

  it('typed arrays are views into the one buffer read, each aligned to 64 bytes', () => {
    const target = file();
    dumpSync({ a: Float64Array.of(1, 2), b: Int8Array.of(3), c: BigInt64Array.of(4n) }, target);
    const back = loadSync<{ a: Float64Array; b: Int8Array; c: BigInt64Array }>(target);
    expect(back.a.buffer).toBe(back.b.buffer);
    expect(back.a.buffer).toBe(back.c.buffer);
    expect(back.a.buffer.byteLength).toBe(fs.statSync(target).size);
    for (const array of [back.a, back.b, back.c]) expect(array.byteOffset % 64).toBe(0);
  });

  it('a subarray stores only its own elements', () => {
    const big = new Float64Array(100_000).map((_, i) => i);
    const target = file();
    const info = dumpSync(big.subarray(10, 13), target);
    expect(info.bytes).toBeLessThan(1024);
    expect([...loadSync<Float64Array>(target)]).toStrictEqual([10, 11, 12]);
  });
});

describe('roundtrip: shared references and cycles come back shared', () => {
  it('a shared object is one object after loading', async () => {
    const shared = { x: 1 };
    const back = await roundtrip({ a: shared, b: [shared], c: new Map([['k', shared]]) });
    expect(back.a).toBe(back.b[0]);
    expect(back.a).toBe(back.c.get('k'));
  });

  it('cycles through objects, arrays, Maps and Sets resolve', async () => {
    const root: Record<string, unknown> = { list: [] as unknown[] };
    (root.list as unknown[]).push(root);
    const map = new Map<string, unknown>();
    map.set('self', map);
    const set = new Set<unknown>();
    set.add(set);
    root.map = map;
    root.set = set;
    const back = await roundtrip(root);
    expect((back.list as unknown[])[0]).toBe(back);
    expect((back.map as Map<string, unknown>).get('self')).toBe(back.map);
    expect([...(back.set as Set<unknown>)][0]).toBe(back.set);
  });

  it('the same typed array twice is one typed array', async () => {
    const array = Float32Array.of(1, 2);
    const back = await roundtrip({ a: array, b: array });
    expect(back.a).toBe(back.b);
  });

  it('a structure 100 000 levels deep neither overflows the stack on dump nor on load', async () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100_000; i++) deep = { next: deep };
    const target = file();
    await dump(deep, target);
    let back = await load(target);
    let depth = 0;
    while (typeof back === 'object' && back !== null) {
      back = (back as { next: unknown }).next;
      depth++;
    }
    expect([depth, back]).toStrictEqual([100_000, 'bottom']);
  });
});

describe('roundtrip: a file is the same bytes whatever was written before it', () => {
  it('small manifests share one builder: a larger manifest, a failed dump or an async dump in between change nothing', async () => {
    const value = { name: 'run', tags: ['a', 'ü'], n: -0, data: new Float32Array([1, 2]) };
    const first = path.join(dir, 'same-1.larder');
    dumpSync(value, first);
    dumpSync({ many: Array.from({ length: 300 }, (_, i) => ({ [`key${i}`]: `text ${i}`.repeat(i % 7) })) }, path.join(dir, 'same-big.larder'));
    expect(() => dumpSync({ f: () => 1 }, path.join(dir, 'same-bad.larder'))).toThrow();
    const [, second] = await Promise.all([dump({ other: [1, 2, 3], s: 'x'.repeat(100) }, path.join(dir, 'same-async.larder')), (async () => {
      const file = path.join(dir, 'same-2.larder');
      dumpSync(value, file);
      return file;
    })()]);
    expect(fs.readFileSync(second)).toEqual(fs.readFileSync(first));
    expect(loadSync(second)).toEqual(value);
    expect(loadSync(path.join(dir, 'same-async.larder'))).toEqual({ other: [1, 2, 3], s: 'x'.repeat(100) });
  });
});
