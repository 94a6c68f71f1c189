/**
 * Regression: every string the format stores round-trips exactly. Object keys
 * were UTF-8 in the manifest, so a lone surrogate became U+FFFD and
 * `{ '\uD800': 1, '\uDC00': 2 }` loaded as `{ '\uFFFD': 2 }`; an empty key
 * was written as a null offset and made the file unreadable.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dump, dumpSync, FormatError, load, loadSync, type LoadOptions } from '@larder/store-fs';
import { ManifestReader } from '../src/manifest.js';
import { editManifest, prng } from './file-surgery.js';
import { LOAD_MODES as MODES } from './load-modes.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
let counter = 0;
const file = (): string => path.join(dir, `s${counter++}.larder`);
const COMPRESS = [false, 'gzip', 'brotli'] as const;

/** Dumps with every compression and loads in every mode, sync and async; returns every result. */
async function everyWay<T>(value: T): Promise<T[]> {
  const results: T[] = [];
  for (const compress of COMPRESS) {
    const target = file();
    await dump(value, target, { compress });
    for (const [, options] of MODES) {
      // The values here hold no typed arrays, so a mapped load gives a T too.
      results.push(loadSync<T>(target, options) as T, (await load<T>(target, options)) as T);
    }
  }
  return results;
}

/** Own keys as code-unit arrays, so a failure shows which units changed. */
function units(keys: string[]): number[][] {
  return keys.map((key) => Array.from(key, (_, i) => key.charCodeAt(i)));
}

/** Strings of random UTF-16 code units, lone surrogates and all, from a seeded generator. */
function randomStrings(seed: number, count: number): string[] {
  const random = prng(seed);
  const pool = [0xd800, 0xdbff, 0xdc00, 0xdfff, 0xfeff, 0xfffd, 0, 0x41, 0xe9, 0x20ac];
  return Array.from({ length: count }, () => {
    const length = Math.floor(random() * 6);
    let text = '';
    for (let i = 0; i < length; i++) text += String.fromCharCode(random() < 0.5 ? pool[Math.floor(random() * pool.length)]! : Math.floor(random() * 0x10000));
    return text;
  });
}

describe('strings: every string round-trips exactly', () => {
  it("object keys with lone surrogates stay distinct: { '\\uD800': 1, '\\uDC00': 2 } loads as itself", async () => {
    const value = { '\uD800': 1, '\uDC00': 2 };
    for (const back of await everyWay(value)) {
      expect(units(Object.keys(back))).toEqual(units(['\uD800', '\uDC00']));
      expect(back).toStrictEqual(value);
    }
  });

  it("the empty key, a BOM-led key and keys that only differ in a lone surrogate come back exactly", async () => {
    const value = { '': 'empty', '\uFEFFbom': '\uFEFF', a: 1, 'a\uD800': 2, 'a\uDFFF': 3, '\uD83D\uDE00': 'pair', __proto__x: 0 };
    for (const back of await everyWay(value)) {
      expect(units(Object.keys(back))).toEqual(units(Object.keys(value)));
      expect(back).toStrictEqual(value);
    }
  });

  it('an object with a lone-surrogate "__proto__" sibling keeps "__proto__" as an own key', async () => {
    const value = JSON.parse('{"__proto__": 1, "\\ud800": 2}') as Record<string, number>;
    for (const back of await everyWay(value)) {
      expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
      expect(Object.getOwnPropertyNames(back)).toEqual(['__proto__', '\uD800']);
    }
  });

  it('lone surrogates round-trip in keys, values, Map keys, Set members, shared objects and long strings', async () => {
    const shared = { '\uDBFF': 'shared', inner: { '\uDC01x': [1] } };
    const long = `${'\uD800x'.repeat(20_000)}end`; // above the 8192-unit decode piece and the mmap threshold
    const value = {
      list: [shared, shared, { '\uD800': shared }],
      map: new Map<unknown, unknown>([['\uD800', '\uDC00'], [shared, long]]),
      set: new Set(['\uDFFF', '\uD800', 'plain']),
      [long]: long,
    };
    for (const back of await everyWay(value)) {
      expect(back).toStrictEqual(value);
      expect(back.list[0]).toBe(back.list[1]);
      expect((back.list[2] as Record<string, unknown>)['\uD800']).toBe(back.list[0]);
      expect(units(Object.keys(back))).toEqual(units(Object.keys(value)));
    }
  });

  it('fuzz: 2000 seeded strings of random code units round-trip as keys and as values', async () => {
    const strings = randomStrings(4242, 2000);
    const asKeys: Record<string, number> = {};
    strings.forEach((text, i) => (asKeys[text] = i));
    const value = { asKeys, asValues: strings, asMapKeys: new Map(strings.map((text, i) => [text, i])) };
    for (const back of await everyWay(value)) {
      expect(units(Object.keys(back.asKeys))).toEqual(units(Object.keys(asKeys)));
      expect(back).toStrictEqual(value);
    }
  });

  it('files that need no lone-surrogate key keep format version 1 (older readers still load them); others are version 2', () => {
    const plain = file();
    dumpSync({ 'héllo 🎉': 'wörld \uD800', m: new Map([['\uDC00', 1]]) }, plain);
    expect(fs.readFileSync(plain).readUInt16LE(8)).toBe(1);
    const keyed = file();
    dumpSync({ '\uD800': 1 }, keyed);
    expect(fs.readFileSync(keyed).readUInt16LE(8)).toBe(2);
  });

  it('files written by the previous release (format version 1) still load, in every mode', () => {
    const shared = { tag: 'shared' };
    const expected = {
      name: 'run \uD800 lone in a value',
      keys: { plain: 1, 'héllo wörld 🎉': 2, '\uFEFFbom': 3, __proto__x: 4 },
      holey: [1, , 3], // eslint-disable-line no-sparse-arrays
      numbers: Array.from({ length: 16 }, (_, i) => i / 3),
      nested: [[[]], {}, null, undefined, true, false, -0, NaN, 10n ** 30n, -(2n ** 70n)],
      map: new Map<unknown, unknown>([['\uDC00', shared], [shared, new Set([1, 'two', '\uD83D'])]]),
      when: new Date(1_700_000_000_123),
      arrays: { f: new Float64Array(40).map((_, i) => i), i: Int16Array.of(-1, 2, -3), b: Buffer.from('buf'), ab: new Uint8Array([1, 2, 3]).buffer },
      dv: new DataView(new ArrayBuffer(8)),
      long: 'x'.repeat(5000),
    };
    for (const name of ['v1-plain', 'v1-gzip', 'v1-brotli']) {
      const target = path.join(fixtures, `${name}.larder`);
      expect(fs.readFileSync(target).readUInt16LE(8)).toBe(1);
      for (const [, options] of [...MODES.slice(0, 2), ['mmap', { mmap: 'r' }] as [string, LoadOptions]]) {
        const back = loadSync<typeof expected>(target, options);
        expect(back).toStrictEqual(expected);
        expect(1 in back.holey).toBe(false);
      }
    }
  });

  it('text that is not valid UTF-8 is a FormatError, not a silently replaced string', () => {
    const target = file();
    dumpSync({ key: 'value' }, target);
    const bytes = editManifest(new Uint8Array(fs.readFileSync(target)), (manifest) => {
      const at = Buffer.from(manifest).indexOf('value');
      expect(at).toBeGreaterThan(0);
      manifest[at] = 0xff;
      expect(new ManifestReader(manifest).nodes.length).toBeGreaterThan(0);
    });
    fs.writeFileSync(target, bytes);
    for (const [, options] of MODES) expect(() => loadSync(target, options)).toThrow(FormatError);
    for (const [, options] of MODES) expect(() => loadSync(target, options)).toThrow(/not valid UTF-8/);
  });
});
