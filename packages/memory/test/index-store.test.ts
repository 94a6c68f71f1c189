import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Keyv from 'keyv';
import { afterAll, describe, expect, it } from 'vitest';
import type { MemoryWarning } from '@larder/memory';
import { openIndexOption, openLocationIndex, type IndexStore } from '../src/index-store.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'larder-index-'));
  dirs.push(dir);
  return dir;
};
const closers: IndexStore[] = [];
afterAll(async () => {
  for (const store of closers) await store.close().catch(() => undefined);
});

/** The same conformance checks for every backend behind IndexStore. */
function conformance(name: string, open: () => Promise<IndexStore>) {
  describe(`index store conformance: ${name}`, () => {
    it('stores, reads back in order, deletes and clears records', async () => {
      const store = await open();
      closers.push(store);
      await store.setMany([{ key: 'e/a', value: { hits: 1 } }, { key: 'e/b', value: { hits: 2, name: 'f' } }]);
      expect(await store.getMany(['e/b', 'missing', 'e/a'])).toEqual([{ hits: 2, name: 'f' }, undefined, { hits: 1 }]);
      await store.deleteMany(['e/a']);
      expect(await store.getMany(['e/a', 'e/b'])).toEqual([undefined, { hits: 2, name: 'f' }]);
      await store.clear();
      expect(await store.getMany(['e/b'])).toEqual([undefined]);
    });

    it('runs a transaction and rolls it back on error', async () => {
      const store = await open();
      closers.push(store);
      await store.transaction(async () => store.setMany([{ key: 'k', value: 1 }]));
      expect(await store.getMany(['k'])).toEqual([1]);
      await expect(store.transaction(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
      expect(await store.getMany(['k'])).toEqual([1]);
    });

    it('reads more records than one statement takes', async () => {
      const store = await open();
      closers.push(store);
      const entries = Array.from({ length: 1200 }, (_, i) => ({ key: `e/${i}`, value: i }));
      await store.setMany(entries);
      const got = await store.getMany(entries.map((e) => e.key));
      expect(got).toEqual(entries.map((e) => e.value));
    });
  });
}

const noWarn = (w: MemoryWarning) => { throw w; };
conformance('SQLite in a location', () => openLocationIndex(tempDir(), noWarn));
conformance('sqlite:// URI', () => openIndexOption(`sqlite://${join(tempDir(), 'i.db')}`, noWarn));
conformance('in-memory keyv instance', () => openIndexOption(new Keyv(), noWarn));

describe('index store robustness', () => {
  it('index: a corrupt database file is moved aside and rebuilt, with one warning', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'index.sqlite'), Buffer.alloc(8192, 0x5a));
    const warnings: MemoryWarning[] = [];
    const store = await openLocationIndex(dir, (w) => warnings.push(w));
    closers.push(store);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.code).toBe('LARDER_INDEX');
    expect(warnings[0]!.message).toMatch(/was corrupt; it was moved to .*index\.sqlite\.corrupt-\d+ and rebuilt empty/);
    expect(readdirSync(dir).some((f) => f.startsWith('index.sqlite.corrupt-'))).toBe(true);
    await store.setMany([{ key: 'x', value: 1 }]);
    expect(await store.getMany(['x'])).toEqual([1]);
  });

  it('index: an unopenable database is bypassed with an in-memory index and a warning', async () => {
    const dir = tempDir();
    const warnings: MemoryWarning[] = [];
    const store = await openLocationIndex(join(dir, 'no', 'such', 'dir'), (w) => warnings.push(w));
    closers.push(store);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_INDEX']);
    expect(store.description).toMatch(/^memory/);
    await store.setMany([{ key: 'x', value: 2 }]);
    expect(await store.getMany(['x'])).toEqual([2]);
  });

  it('index: a URI that is not sqlite:// is a bad option that says what to pass instead', async () => {
    await expect(openIndexOption('redis://localhost', noWarn)).rejects.toThrow(/index must be a keyv instance or a "sqlite:\/\/path" URI, got "redis:\/\/localhost"/);
  });

  it('index: the default database runs in WAL mode', async () => {
    const dir = tempDir();
    const store = await openLocationIndex(dir, noWarn);
    closers.push(store);
    await store.setMany([{ key: 'x', value: 1 }]);
    expect(readdirSync(dir)).toContain('index.sqlite-wal');
  });
});

describe('an index the user passes in', () => {
  it('regression: clear() on a Keyv the user shares with their own keys removes only larder\'s records', async () => {
    const keyv = new Keyv();
    await keyv.set('user-setting', 'keep me');
    const store = await openIndexOption(keyv, () => undefined);
    closers.push(store);
    await store.setMany([{ key: 'e/a', value: { hits: 1 } }, { key: 'f/fn', value: { hits: 1 } }]);
    await store.clear();
    expect(await store.getMany(['e/a', 'f/fn'])).toEqual([undefined, undefined]);
    expect(await keyv.get('user-setting')).toBe('keep me');
  });
});
