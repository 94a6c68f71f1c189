/**
 * The flattened form that carries values too deep for structured clone must
 * rebuild what structured clone would: own keys only, an own `__proto__` key
 * as a key (never the prototype), and holes as holes.
 */
import { describe, expect, it } from 'vitest';
import { decodeDeep, encodeDeep } from '../src/deep-values.js';

const roundTrip = (value: unknown): unknown =>
  decodeDeep(structuredClone(encodeDeep(value, (leaf) => leaf, (what) => { throw new Error(what); })));

describe('deep values', () => {
  it('regression: an own __proto__ key comes back as a key, not as the prototype', () => {
    const back = roundTrip(JSON.parse('{"__proto__":{"polluted":1},"a":1}')) as Record<string, unknown>;
    expect(Object.keys(back)).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(back.polluted).toBeUndefined();
  });

  it('regression: holes stay holes, and a sparse array costs its elements, not its length', () => {
    const sparse: unknown[] = [];
    sparse.length = 1e9;
    sparse[5] = 'x';
    const back = roundTrip([[, 2], sparse]) as [unknown[], unknown[]];
    expect(0 in back[0]).toBe(false);
    expect(back[0]).toHaveLength(2);
    expect(back[1]).toHaveLength(1e9);
    expect(back[1][5]).toBe('x');
  });

  it('inherited enumerable keys are not picked up', () => {
    const object = Object.assign(Object.create(null), { own: 1 }) as Record<string, unknown>;
    expect(roundTrip({ object })).toEqual({ object: { own: 1 } });
  });
});
