import { describe, expect, it } from 'vitest';
import xxhash from 'xxhash-wasm';
import { hash, HashError } from '@larder/memory';

describe('hash', () => {
  it('hash: golden digests stay the same across versions (encoding v1)', () => {
    const golden: [unknown, string][] = [
      [null, '8a4127811b21e730'],
      [undefined, 'e934a84adb052768'],
      [true, '1f25c8d0bc1f4bb6'],
      [0, '078e4ab900e95271'],
      [-0, '9a1e39a463a6926b'],
      [NaN, '280308856b409770'],
      [1.5, 'e61612a10904c397'],
      ['abc', 'ce1ac251c7459cf5'],
      ['é', '5dbec3a5cec087f9'],
      [10n, '45054e16f6f99ad0'],
      [-10n, '7bc2bedaf0400b81'],
      [new Date(0), '877f0ed68cc54543'],
      [[1, 2.5, 'abc', { a: 1, b: [1, 2, 3] }], '7f8b0f8ac74ec765'],
      [new Float64Array([1, 2, 3]), '7fcd551fdb803626'],
      [Float64Array.from({ length: 1000 }, (_, i) => i), 'ece45df7251c8ebd'],
      [new Map<unknown, unknown>([['a', 1], [2, 'b']]), '10da3e62ec42bc3f'],
      [new Set([1, 'x']), 'd62f62646bde5167'],
    ];
    for (const [value, digest] of golden) expect(hash(value)).toBe(digest);
  });

  it('hash: is xxh64 of the documented encoding', async () => {
    const xx = await xxhash();
    const hex = (bytes: number[]) => xx.h64Raw(new Uint8Array(bytes), 0n).toString(16).padStart(16, '0');
    expect(hash(null)).toBe(hex([0x01]));
    expect(hash(true)).toBe(hex([0x03]));
    expect(hash('ab')).toBe(hex([0x06, 2, 0, 0, 0, 0x61, 0x62]));
    expect(hash([])).toBe(hex([0x08, 0, 0, 0, 0]));
    expect(hash(new Uint8Array([7]))).toBe(hex([0x0c, 2, ...new Uint8Array(new Float64Array([1]).buffer), 0x00, 1, 0, 0, 0, 7]));
  });

  it('hash: returns 16 lowercase hex characters', () => {
    expect(hash({ x: 1 })).toMatch(/^[0-9a-f]{16}$/);
  });

  it('hash: object keys, Map entries and Set elements are order-insensitive', () => {
    expect(hash({ a: 1, b: 2 })).toBe(hash({ b: 2, a: 1 }));
    expect(hash(new Map([[1, 'a'], [2, 'b']]))).toBe(hash(new Map([[2, 'b'], [1, 'a']])));
    expect(hash(new Set([1, 2, 3]))).toBe(hash(new Set([3, 1, 2])));
    expect(hash(new Map([[{ k: 1 }, new Set(['x', 'y'])]]))).toBe(hash(new Map([[{ k: 1 }, new Set(['y', 'x'])]])));
    expect(hash([1, 2])).not.toBe(hash([2, 1]));
  });

  it('hash: distinguishes kinds: Float64Array([1]), Float32Array([1]), [1], Buffer, Set, Map, object', () => {
    const digests = [new Float64Array([1]), new Float32Array([1]), [1], Buffer.from([1]), new Uint8Array([1]), new Set([1]), new Map([[0, 1]]), { 0: 1 }, '1', 1, 1n].map((v) => hash(v));
    expect(new Set(digests).size).toBe(digests.length);
  });

  it('hash: -0 differs from 0, every NaN is one NaN', () => {
    expect(hash(-0)).not.toBe(hash(0));
    const otherNaN = new Float64Array(new BigUint64Array([0x7ff8dead00000001n]).buffer)[0]!;
    expect(Number.isNaN(otherNaN)).toBe(true);
    expect(hash(otherNaN)).toBe(hash(NaN));
    expect(hash(new Date(NaN))).toBe(hash(new Date('garbage')));
  });

  it('hash: a typed array hashes only the bytes of its view, not its whole buffer', () => {
    const big = new Float64Array(10_000).map((_, i) => i);
    const view = big.subarray(100, 200);
    expect(hash(view)).toBe(hash(new Float64Array(view)));
    const large = big.subarray(1000, 9000);
    expect(hash(large)).toBe(hash(new Float64Array(large)));
    big[9500] = -1;
    expect(hash(big.subarray(1000, 9000))).toBe(hash(large));
    expect(hash(new DataView(big.buffer, 8, 16))).toBe(hash(new DataView(new Float64Array([1, 2]).buffer)));
  });

  it('hash: large typed arrays are streamed and differ when any byte differs', () => {
    const a = new Float64Array(1_000_000).map((_, i) => i * 0.5);
    const b = new Float64Array(a);
    expect(hash(a)).toBe(hash(b));
    b[999_999] = 0;
    expect(hash(a)).not.toBe(hash(b));
    // Aliasing is part of the key (a function can observe it by writing through one).
    expect(hash([a, a])).not.toBe(hash([a, new Float64Array(a)]));
    const c = new Float64Array(a);
    expect(hash([a, a])).toBe(hash([c, c]));
  });

  it('hash: Date, bigint and nested structures hash by value', () => {
    expect(hash(new Date(5))).toBe(hash(new Date(5)));
    expect(hash(new Date(5))).not.toBe(hash(5));
    expect(hash(2n ** 100n)).toBe(hash(2n ** 100n));
    expect(hash(-(2n ** 100n))).not.toBe(hash(2n ** 100n));
    const nested = () => ({ runs: [{ id: 1, data: new Int32Array([1, 2]), tags: new Set(['a']) }], when: new Date(1) });
    expect(hash(nested())).toBe(hash(nested()));
  });

  it('hash: cycles terminate and hash by shape; shared references hash by content and aliasing', () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    const b: Record<string, unknown> = { x: 1 };
    b.self = b;
    expect(hash(a)).toBe(hash(b));
    const c: Record<string, unknown> = { x: 2 };
    c.self = c;
    expect(hash(c)).not.toBe(hash(a));
    const shared = { k: [1, 2] };
    expect(hash([shared, shared])).not.toBe(hash([{ k: [1, 2] }, { k: [1, 2] }]));
    const other = { k: [1, 2] };
    expect(hash([shared, shared])).toBe(hash([other, other]));
    const list: unknown[] = [];
    list.push(new Map([['back', list]]));
    expect(hash(list)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('hash: functions and symbols are an error naming where they sit', () => {
    expect(() => hash([1, { cb: () => 1 }], 'args')).toThrow(HashError);
    try {
      hash([1, { cb: () => 1 }], 'args');
    } catch (error) {
      expect((error as HashError).path).toBe('args[1].cb');
      expect((error as HashError).code).toBe('LARDER_UNHASHABLE');
      expect((error as Error).message).toMatch(/^\[larder\/memory\] cannot hash a function \(cb\) at args\[1\]\.cb/);
    }
    expect(() => hash({ s: Symbol('x') })).toThrow(/a symbol \(Symbol\(x\)\) at \$\.s/);
    expect(() => hash(new Map([['k', Promise.resolve()]]))).toThrow(/Promise at \$\.get\("k"\)/);
  });

  it('hash: regression: a class instance is a HashError naming its class and where it sits (URL, Error, #private state hashed alike)', () => {
    class Point { constructor(public x: number, public y: number) {} }
    for (const instance of [new URL('http://a.com/'), new Error('a'), new Point(1, 2), new URLSearchParams('a=1'), new Blob(['a'])]) {
      expect(() => hash([{ model: instance }], 'args')).toThrow(HashError);
    }
    try {
      hash([1, { model: new URL('http://a.com/') }], 'args');
      expect.unreachable();
    } catch (error) {
      expect((error as HashError).path).toBe('args[1].model');
      expect((error as HashError).code).toBe('LARDER_UNHASHABLE');
      expect((error as Error).message).toMatch(/^\[larder\/memory\] cannot hash an instance of class URL at args\[1\]\.model: /);
      expect((error as Error).message).toMatch(/Pass plain data .*or use the `key` option/);
    }
    // Subclasses of the kinds hash() knows carry state it cannot see either.
    class DefaultMap extends Map<string, number> { constructor(readonly fallback: number) { super(); } }
    expect(() => hash(new DefaultMap(1))).toThrow(/an instance of class DefaultMap/);
    expect(() => hash(new (class Sub extends Array {})())).toThrow(/an instance of class Sub/);
    // Plain and null-prototype objects are data, told apart (`'toString' in obj` differs).
    expect(hash(Object.assign(Object.create(null), { a: 1 }))).toBe(hash(Object.assign(Object.create(null), { a: 1 })));
    expect(hash(Object.assign(Object.create(null), { a: 1 }))).not.toBe(hash({ a: 1 }));
  });

  it('hash: regression: lone surrogates do not collide with each other or with U+FFFD', () => {
    const digests = [['\uD800'], ['\uDC00'], ['\uFFFD'], ['a\uD800'], ['a\uFFFD'], { '\uD800': 1 }, { '\uDC00': 1 }, { '\uFFFD': 1 }].map((v) => hash(v));
    expect(new Set(digests).size).toBe(digests.length);
    expect(hash('x\uD800y')).toBe(hash('x\uD800y'));
    // Well-formed strings, surrogate pairs included, keep their UTF-8 encoding.
    expect(hash('\uD83D\uDE00')).toBe(hash('😀'));
  });

  it('hash: regression: a sparse array differs from one holding undefined', () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(hash([, 1])).not.toBe(hash([undefined, 1]));
    expect(hash(new Array(3))).not.toBe(hash([undefined, undefined, undefined]));
    // eslint-disable-next-line no-sparse-arrays
    expect(hash([, 1])).toBe(hash([, 1]));
  });

  it('hash: regression: an array with extra own keys (a RegExp match, Object.assign) is a HashError, not hashed like the bare array', () => {
    expect(() => hash([Object.assign([1], { foo: 1 })], 'args')).toThrow(/cannot hash an array with own non-index keys \(foo\) at args\[0\]/);
    expect(() => hash('xxabc'.match(/b/))).toThrow(HashError);
    const large = Object.assign(Array.from({ length: 5000 }, (_, i) => i), { extra: true });
    expect(() => hash(large)).toThrow(/own non-index keys \(extra\)/);
    expect(hash(Array.from({ length: 5000 }, (_, i) => i))).toMatch(/^[0-9a-f]{16}$/);
  });
});
