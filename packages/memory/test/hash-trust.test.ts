import { describe, expect, it } from 'vitest';
import { hash, HashError } from '@larder/memory';

/** The HashError `hash(value, root)` throws (fails the test when it does not throw one). */
function refusal(value: unknown, root = '$'): HashError {
  try {
    hash(value, root);
  } catch (error) {
    if (error instanceof HashError) return error;
    throw error;
  }
  throw new Error(`hash() accepted ${String(value)}`);
}

/** Every pair hashes differently, or one side is refused: never one digest for both. */
function neverCollide(a: unknown, b: unknown): void {
  let digestA: string | undefined;
  let digestB: string | undefined;
  try { digestA = hash(a); } catch (error) { expect(error).toBeInstanceOf(HashError); }
  try { digestB = hash(b); } catch (error) { expect(error).toBeInstanceOf(HashError); }
  if (digestA !== undefined && digestB !== undefined) expect(digestA).not.toBe(digestB);
}

describe('hash: nothing a function could observe is left out of the key', () => {
  it('hash: objects differing only in a symbol-keyed property are refused, naming the path', () => {
    const error = refusal([1, { opts: { [Symbol.for('k')]: 1 } }], 'args');
    expect(error.code).toBe('LARDER_UNHASHABLE');
    expect(error.path).toBe('args[1].opts[Symbol(k)]');
    expect(error.message).toMatch(/^\[larder\/memory\] cannot hash a symbol-keyed property at args\[1\]\.opts\[Symbol\(k\)\]/);
    // On every kind of object, not only plain ones.
    for (const host of [[1], new Map(), new Set(), new Date(0), /a/, new Float64Array(2), new ArrayBuffer(2), new String('s')]) {
      (host as unknown as Record<symbol, number>)[Symbol('extra')] = 1;
      expect(refusal({ host }).path).toBe('$.host[Symbol(extra)]');
    }
  });

  it('hash: objects differing only in a non-enumerable property hash differently', () => {
    const hidden = (value: number) => Object.defineProperty({ a: 1 }, 'secret', { value, enumerable: false });
    neverCollide(hidden(1), hidden(2));
    neverCollide(hidden(1), { a: 1 });
    // A non-enumerable key is not the same as an enumerable one either.
    neverCollide(hidden(1), { a: 1, secret: 1 });
    expect(hash(hidden(1))).toBe(hash(hidden(1)));
  });

  it('hash: a getter is refused (not run), naming the path', () => {
    let runs = 0;
    const error = refusal({ a: { get x() { runs++; return 1; } } });
    expect(error.path).toBe('$.a.x');
    expect(error.message).toMatch(/getter\/setter \(accessor property\)/);
    expect(runs).toBe(0);
    expect(refusal(Object.defineProperty({}, 'x', { set() {}, enumerable: true })).path).toBe('$.x');
    // Not even a Symbol.toStringTag getter (which Object.prototype.toString would call).
    expect(refusal({ get [Symbol.toStringTag]() { runs++; return 'X'; } }).path).toBe('$[Symbol(Symbol.toStringTag)]');
    expect(runs).toBe(0);
  });

  it('hash: frozen, sealed, non-extensible and read-only objects differ from their open twins', () => {
    const digests = [
      { a: 1 }, Object.freeze({ a: 1 }), Object.seal({ a: 1 }), Object.preventExtensions({ a: 1 }),
      Object.defineProperty({}, 'a', { value: 1, enumerable: true, writable: false, configurable: true }),
      Object.defineProperty({}, 'a', { value: 1, enumerable: true, writable: true, configurable: false }),
      [1], Object.freeze([1]), Object.seal([1]),
    ].map((v) => hash(v));
    expect(new Set(digests).size).toBe(digests.length);
    expect(hash(Object.freeze({ a: 1 }))).toBe(hash(Object.freeze({ a: 1 })));
  });

  it('hash: regression: an array whose length is read-only (push throws) differs from its open twin; it hashed alike, so f(readOnly) could hit the entry of f([1])', () => {
    const readOnlyLength = (): number[] => Object.defineProperty([1], 'length', { writable: false });
    const pushes = (array: number[]): string => { try { array.push(2); return 'pushed'; } catch { return 'refused'; } };
    expect(pushes(readOnlyLength())).not.toBe(pushes([1])); // what a cached function can observe
    const digests = [[1], readOnlyLength(), Object.freeze([1]), Object.seal(readOnlyLength()), Object.preventExtensions(readOnlyLength()), [[1]], [readOnlyLength()]].map((v) => hash(v));
    expect(new Set(digests).size).toBe(digests.length);
    expect(hash(readOnlyLength())).toBe(hash(readOnlyLength()));
    // An aliased one too (the other encoding).
    const shared = readOnlyLength();
    const open = [1];
    expect(hash([shared, shared])).not.toBe(hash([open, open]));
  });

  it('hash: extra own properties on an Array, typed array, DataView, ArrayBuffer, Map, Set, Date, RegExp or boxed primitive are refused, naming the path', () => {
    const hosts: [string, () => object][] = [
      ['array', () => [1, 2]], ['long array', () => Array.from({ length: 5000 }, (_, i) => i)],
      ['Float64Array', () => new Float64Array(2)], ['long Float64Array', () => new Float64Array(5000)], ['Buffer', () => Buffer.alloc(4000)],
      ['DataView', () => new DataView(new ArrayBuffer(4))], ['ArrayBuffer', () => new ArrayBuffer(4)], ['SharedArrayBuffer', () => new SharedArrayBuffer(4)],
      ['Map', () => new Map([[1, 2]])], ['Set', () => new Set([1])], ['Date', () => new Date(0)], ['RegExp', () => /a/g],
      ['Number', () => new Number(1)], ['String', () => new String('ab')], ['Boolean', () => new Boolean(true)],
    ];
    for (const [name, make] of hosts) {
      for (const enumerable of [true, false]) {
        const host = Object.defineProperty(make(), 'extra', { value: 1, enumerable });
        const error = refusal([{ host }], 'args');
        expect(error.path, `${name}, enumerable ${enumerable}`).toBe('args[0].host');
        expect(error.message).toMatch(/with own (properties|non-index keys) \(extra\)/);
      }
      expect(() => hash(make()), name).not.toThrow();
    }
  });

  it("hash: a RegExp's lastIndex is part of the key", () => {
    const at = (lastIndex: unknown) => Object.assign(/a/g, { lastIndex });
    neverCollide(at(0), at(3));
    neverCollide(at(3), at(4));
    neverCollide(at('3'), at(3));
    expect(hash(at(0))).toBe(hash(/a/g));
    neverCollide(/a/g, /a/y);
    neverCollide(/a/, /b/);
  });

  it('hash: null-prototype objects, plain objects and class instances never share a key', () => {
    neverCollide(Object.assign(Object.create(null), { x: 1 }), { x: 1 });
    class Point { x = 1; }
    expect(refusal(new Point()).message).toMatch(/instance of class Point/);
    // A built-in whose prototype was swapped still holds its internal state.
    for (const swapped of [Object.setPrototypeOf(new Date(0), Object.prototype), Object.setPrototypeOf([1], Object.prototype), Object.setPrototypeOf(new Map([[1, 2]]), null)]) {
      neverCollide(swapped, {});
    }
    expect(refusal(Object.setPrototypeOf(new Uint8Array(8), Float64Array.prototype)).code).toBe('LARDER_UNHASHABLE');
    expect(refusal(Object.setPrototypeOf({}, Map.prototype)).code).toBe('LARDER_UNHASHABLE');
  });

  it('hash: a Proxy is refused, its traps never consulted', () => {
    let traps = 0;
    const proxy = new Proxy({ a: 1 }, { ownKeys(target) { traps++; return Reflect.ownKeys(target); }, get(target, key) { traps++; return Reflect.get(target, key); } });
    expect(refusal({ p: proxy }).path).toBe('$.p');
    expect(traps).toBe(0);
  });

  it('hash: binary kinds stay apart: Buffer vs Uint8Array, SharedArrayBuffer vs ArrayBuffer, views of other kinds, bigint vs number, string vs boxed string', () => {
    const values = [
      Buffer.from([1, 0, 0, 0]), new Uint8Array([1, 0, 0, 0]), new Int8Array([1, 0, 0, 0]), new Uint8ClampedArray([1, 0, 0, 0]),
      new Uint32Array([1]), new Int32Array([1]), new Float32Array([1]), new DataView(new Uint8Array([1, 0, 0, 0]).buffer),
      new Uint8Array([1, 0, 0, 0]).buffer, (() => { const s = new SharedArrayBuffer(4); new Uint8Array(s)[0] = 1; return s; })(),
      new Uint16Array([1, 0]), 1, 1n, '1', new String('1'), new Number(1), Object(1n), [1], new Set([1]),
    ];
    const digests = values.map((v) => hash(v));
    expect(new Set(digests).size).toBe(digests.length);
    // A resizable ArrayBuffer differs from a fixed one with the same bytes.
    const Resizable = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer;
    neverCollide(new Resizable(4, { maxByteLength: 8 }), new ArrayBuffer(4));
  });

  it('hash: -0 and 0 are one Map key and one Set member (as Map and Set store them), and differ as values', () => {
    expect(hash(new Map([[-0, 'a']]))).toBe(hash(new Map([[0, 'a']])));
    expect(hash(new Set([-0]))).toBe(hash(new Set([0])));
    neverCollide(new Map([['k', -0]]), new Map([['k', 0]]));
    neverCollide([-0], [0]);
    expect(hash(new Set([NaN]))).toBe(hash(new Set([Number.NaN])));
  });

  it('hash: holes, sparse arrays and undefined stay apart, and a sparse array costs its elements, not its length', () => {
    /* eslint-disable no-sparse-arrays */
    const variants: unknown[] = [[, 1], [undefined, 1], [1, ,], [1, undefined], [1], new Array(100), new Array(101), Array.from({ length: 100 })];
    /* eslint-enable no-sparse-arrays */
    const huge: number[] = [];
    huge[1e9] = 1;
    const huge2: number[] = [];
    huge2[1e9 - 1] = 1;
    huge2.length = 1e9 + 1;
    variants.push(huge, huge2);
    const digests = variants.map((v) => hash(v));
    expect(new Set(digests).size).toBe(digests.length);
    const hidden = [1, 2];
    Object.defineProperty(hidden, 0, { value: 1, enumerable: false });
    neverCollide(hidden, [, 2]); // eslint-disable-line no-sparse-arrays
  });

  it('hash: a detached typed array or ArrayBuffer is a HashError naming the path, not a raw TypeError', () => {
    const array = new Float64Array(4);
    structuredClone(array.buffer, { transfer: [array.buffer] });
    const error = refusal([{ data: array }], 'args');
    expect(error.path).toBe('args[0].data');
    expect(error.message).toMatch(/cannot hash a Float64Array whose buffer was detached \(transferred\) at args\[0\]\.data/);
    const buffer = new ArrayBuffer(8);
    const view = new DataView(buffer);
    structuredClone(buffer, { transfer: [buffer] });
    expect(refusal({ buffer }).message).toMatch(/an ArrayBuffer whose buffer was detached/);
    expect(refusal({ view }).path).toBe('$.view');
  });
});
