/**
 * Attacks on the values a cached function hands out: a caller that changes
 * the result it got must not change what any other caller gets.
 */
import { describe, expect, it } from 'vitest';
import { testMemory } from './helpers.js';

describe('a caller changing its result', () => {
  it('concurrent identical calls each get their own copy: one caller mutating its result is not seen by the others', async () => {
    const { memory } = testMemory();
    let computed = 0;
    const f = memory.cache(async function shared(n: number) {
      computed++;
      await new Promise((resolve) => setTimeout(resolve, 30));
      return { list: [n], array: new Float64Array([n, n]) };
    });
    const [a, b, c] = await Promise.all([f(1), f(1), f(1)]);
    expect(computed).toBe(1);
    a.list.push(99);
    a.array[0] = 99;
    expect(b).toEqual({ list: [1], array: new Float64Array([1, 1]) });
    expect(c).toEqual({ list: [1], array: new Float64Array([1, 1]) });
    b.list.push(7);
    expect(c.list).toEqual([1]);
    // And a later hit is the stored value.
    expect(await f(1)).toEqual({ list: [1], array: new Float64Array([1, 1]) });
  });

  it('a result that cannot be stored is still returned to every concurrent caller', async () => {
    const { memory } = testMemory({ onWarning: () => {} });
    const f = memory.cache(async function unstorable() {
      await new Promise((resolve) => setTimeout(resolve, 30));
      return { run: () => 1 };
    });
    const [a, b] = await Promise.all([f(), f()]);
    expect(a.run()).toBe(1);
    expect(b.run()).toBe(1);
  });

  it('concurrent identical calls whose result could not be stored (a full disk, a class instance) do not share one object: a caller changing its result changes no other\'s', async () => {
    class Run {
      constructor(readonly list: number[]) {}
    }
    const { memory } = testMemory({ onWarning: () => {} });
    let computed = 0;
    const f = memory.cache(async function unstorable(n: number) {
      computed++;
      await new Promise((resolve) => setTimeout(resolve, 30));
      return n === 0 ? Symbol.for('run') : new Run([n]);
    });
    const [a, b, c] = await Promise.all([f(1), f(1), f(1)]);
    (a as Run).list.push(99);
    expect([b, c]).toEqual([new Run([1]), new Run([1])]);
    expect(b).toBeInstanceOf(Run);
    expect(new Set([a, b, c]).size).toBe(3);
    // A primitive that cannot be stored (a symbol) is shared: one computation.
    computed = 0;
    expect(await Promise.all([f(0), f(0)])).toEqual([Symbol.for('run'), Symbol.for('run')]);
    expect(computed).toBe(1);
  });
});

describe('a result that cannot be read whole', () => {
  it('regression: a result whose getter throws, a Proxy whose trap throws, a revoked Proxy or a detached buffer is returned uncached with one warning that does not blame the disk (the call rejected with the getter\'s error)', async () => {
    const detachedView = (): DataView => {
      const buffer = new ArrayBuffer(8);
      const view = new DataView(buffer);
      structuredClone(buffer, { transfer: [buffer] });
      return view;
    };
    const revoked = (): object => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    };
    const cases: [string, () => unknown, RegExp][] = [
      ['getter', () => ({ get x(): number { throw new Error('boom'); } }), /could not be stored; it was returned without caching\. boom/],
      ['trap', () => new Proxy({ a: 1 }, { ownKeys() { throw new Error('trap'); } }), /could not be stored; it was returned without caching\. trap/],
      ['revoked', () => ({ inner: revoked() }), /could not be stored; it was returned without caching\./],
      ['detached', () => ({ view: detachedView() }), /cannot be stored \(store-fs takes plain data.*\$\.value\.view is a DataView that was detached/],
    ];
    for (const [name, make, message] of cases) {
      const { memory, warnings } = testMemory();
      const made = make();
      let runs = 0;
      const f = memory.cache(() => { runs++; return made; }, { name });
      expect(await f()).toBe(made);
      expect(await f()).toBe(made);
      expect(runs).toBe(2);
      expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_STORED']);
      expect(warnings[0]!.message).toMatch(message);
      expect(warnings[0]!.message).not.toMatch(/disk full/);
      await memory.close();
    }
  });
});
