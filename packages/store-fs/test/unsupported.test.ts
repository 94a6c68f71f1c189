import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dump, dumpSync, loadSync, UnsupportedValueError } from '@larder/store-fs';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();

function thrownBy(fn: () => unknown): UnsupportedValueError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UnsupportedValueError);
    return error as UnsupportedValueError;
  }
  throw new Error('expected a throw');
}

describe('unsupported values', () => {
  const target = path.join(dir, 'u.larder');
  it.each([
    ['a function', { runs: [0, 1, 2, { model: () => 1 }] }, '$.runs[3].model', 'is a function'],
    ['a symbol', { a: { b: Symbol('s') } }, '$.a.b', 'is a symbol'],
    ['a class instance', { x: [new (class Model {})()] }, '$.x[0]', 'is a Model instance'],
    ['a WeakMap', new Map([['k', new WeakMap()]]), '$.get("k")', 'is a WeakMap instance'],
    ['a Promise', new Set([Promise.resolve(1)]), '$.values()[0]', 'is a Promise instance'],
    ['a RegExp under an odd key', { 'odd key': /x/ }, '$["odd key"]', 'is a RegExp instance'],
    ['an object with symbol keys', { o: { [Symbol('k')]: 1 } }, '$.o', 'is an object with symbol keys'],
  ])('%s is an UnsupportedValueError naming its path', (_name, value, where, what) => {
    const error = thrownBy(() => dumpSync(value, target));
    expect(error.code).toBe('LARDER_UNSUPPORTED');
    expect(error.path).toBe(where);
    expect(error.message).toContain(`[larder/store-fs] ${where} ${what}`);
  });

  it('regression: a typed array, Buffer, DataView or ArrayBuffer whose buffer was detached is an UnsupportedValueError naming its path (it was a bare TypeError "Cannot perform Construct on a detached ArrayBuffer")', async () => {
    const detached = <T>(make: (buffer: ArrayBuffer) => T): T => {
      const buffer = new ArrayBuffer(16);
      const value = make(buffer);
      structuredClone(buffer, { transfer: [buffer] });
      return value;
    };
    const cases: [unknown, string, string][] = [
      [{ a: detached((b) => b) }, '$.a', 'an ArrayBuffer'],
      [{ v: [detached((b) => new Float64Array(b))] }, '$.v[0]', 'a Float64Array'],
      [new Map([['d', detached((b) => new DataView(b))]]), '$.get("d")', 'a DataView'],
      [{ buf: detached((b) => Buffer.from(b)) }, '$.buf', 'a Buffer'],
    ];
    for (const [value, where, what] of cases) {
      const error = thrownBy(() => dumpSync(value, target));
      expect(error.path).toBe(where);
      expect(error.message).toContain(`${where} is ${what} that was detached (transferred)`);
      await expect(dump(value, target)).rejects.toThrow(UnsupportedValueError);
    }
    // Empty, but not detached: stored as they are.
    dumpSync({ a: new ArrayBuffer(0), b: new Float64Array(0), s: new Uint8Array(new SharedArrayBuffer(0)) }, target);
    expect(loadSync<{ b: Float64Array }>(target).b.length).toBe(0);
  });

  it('dumpSync throws synchronously; dump rejects', async () => {
    expect(() => dumpSync(() => 1, target)).toThrow(UnsupportedValueError);
    await expect(dump({ f: () => 1 }, target)).rejects.toThrow('$.f is a function');
  });

  it('a failed dump leaves the previous file intact and no temp file', async () => {
    const folder = fs.mkdtempSync(path.join(dir, 'keep-'));
    const file = path.join(folder, 'x.larder');
    dumpSync({ ok: true }, file);
    expect(() => dumpSync({ bad: Symbol('x') }, file)).toThrow(UnsupportedValueError);
    await expect(dump({ bad: new (class Foo {})() }, file)).rejects.toThrow(UnsupportedValueError);
    expect(loadSync(file)).toStrictEqual({ ok: true });
    expect(fs.readdirSync(folder)).toStrictEqual(['x.larder']);
  });

  it('a dump into a missing folder fails with the fs error and writes nothing', async () => {
    const missing = path.join(dir, 'no-such-folder', 'x.larder');
    await expect(dump(new Float64Array(10), missing)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => dumpSync(new Float64Array(10), missing)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

describe('options are validated at the boundary', () => {
  const target = path.join(dir, 'o.larder');
  it.each([
    [{ compress: 'lz4' }, "compress must be false, true, 'gzip', 'brotli', 'zstd' or { method, level }, got \"lz4\""],
    [{ compress: { method: 'gzip', level: 12 } }, 'compress.level must be an integer from 0 to 9 for gzip, got 12'],
    [{ fsync: 'yes' }, 'fsync must be a boolean, got "yes"'],
  ])('dump option %j names itself', (options, message) => {
    expect(() => dumpSync(1, target, options as never)).toThrow(`[larder/store-fs] ${message}`);
  });

  it.each([
    [{ mmap: 'w' }, `mmap must be 'r' or undefined, got "w"`],
    [{ shared: 1 }, 'shared must be a boolean, got 1'],
    [{ mmapThreshold: -1 }, 'mmapThreshold must be a non-negative integer number of bytes, got -1'],
    [{ verify: 'no' }, 'verify must be a boolean, got "no"'],
  ])('load option %j names itself', (options, message) => {
    dumpSync(1, target);
    expect(() => loadSync(target, options as never)).toThrow(`[larder/store-fs] ${message}`);
  });
});
