/**
 * `new Memory(store)`: a BlobStore object as the location. The store here is
 * a FolderStore behind a plain object that delegates the async members only,
 * so Memory cannot tell it from a remote store (no getSync, no pathOf): every
 * result goes through get/putIfAbsent/version/replace/delete/list/removePrefix.
 */
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { FolderStore, isLocalBlobStore, type BlobStore } from '@larder/store-fs';
import { blobStoreConformance, throughInterface } from '@larder/store-fs/testing';
import { InProcessLeaseStore, Memory, MemoryError, type MemoryOptions, type MemoryWarning } from '@larder/memory';
import { leaseStoreConformance } from '@larder/memory/testing';
import { tempDir } from './helpers.js';

/** A FolderStore seen only through the BlobStore interface, counting the calls of each member. */
function wrappedStore(root = tempDir()) {
  const inner = new FolderStore(root);
  return Object.assign(throughInterface(inner, `wrapped ${inner.description}`), { inner });
}

const memories: Memory[] = [];
afterAll(async () => {
  for (const memory of memories) await memory.close();
});
function storeMemory(store: BlobStore, options: MemoryOptions = {}) {
  const warnings: MemoryWarning[] = [];
  const logs: string[] = [];
  const memory = new Memory(store, { onWarning: (w) => warnings.push(w), log: (m) => logs.push(m), ...options });
  memories.push(memory);
  return { memory, warnings, logs };
}

async function keysOf(store: BlobStore, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of store.list(prefix)) keys.push(key);
  return keys.sort();
}

blobStoreConformance(() => wrappedStore(), { describe, it, name: 'FolderStore behind a plain object (not local)' });
leaseStoreConformance(() => new InProcessLeaseStore(), { describe, it, name: 'InProcessLeaseStore' });

describe('Memory over a BlobStore object', () => {
  it('store location: the wrapper is not local, so results go through its async members', () => {
    expect(isLocalBlobStore(wrappedStore())).toBe(false);
  });

  it('store location: a miss stores through putIfAbsent, a hit (in this Memory and in a new one) reads through get', async () => {
    const store = wrappedStore();
    let computed = 0;
    const square = (x: number) => {
      computed++;
      return { x, squared: new Float64Array([x * x]) };
    };
    const { memory, warnings } = storeMemory(store);
    const f = memory.cache(square, { name: 'square' });
    expect(await f(3)).toEqual({ x: 3, squared: new Float64Array([9]) });
    expect(computed).toBe(1);
    expect(store.calls.put + store.calls.putIfAbsent).toBeGreaterThanOrEqual(2); // the marker, then the entry
    const getsBefore = store.calls.get;
    expect(await f(3)).toEqual({ x: 3, squared: new Float64Array([9]) });
    expect(computed).toBe(1);
    expect(store.calls.get).toBeGreaterThan(getsBefore);
    await memory.close();

    const again = storeMemory(store).memory.cache(square, { name: 'square' });
    expect(await again(3)).toEqual({ x: 3, squared: new Float64Array([9]) });
    expect(computed).toBe(1);
    expect(warnings).toEqual([]);
    const keys = await keysOf(store);
    expect(keys).toContain('larder-cache.json');
    expect(keys.filter((key) => key.startsWith('square/'))).toHaveLength(1);
  });

  it('store location: isCached, call (forced), callAndShelve and mmap work through the store', async () => {
    const store = wrappedStore();
    const { memory } = storeMemory(store);
    const f = memory.cache((n: number) => new Float64Array(n).fill(n), { name: 'fill', mmap: 'r' });
    expect(await f.isCached(4)).toBe(false);
    const first = await f(100_000);
    expect(first.length).toBe(100_000);
    expect(first.at(-1)).toBe(100_000);
    expect(await f.isCached(100_000)).toBe(true);
    const { info } = await f.call(100_000);
    expect(info.stored).toBe(true);
    const shelved = await f.callAndShelve(7);
    const seven = await shelved.get();
    expect([seven.length, seven.at(0), seven.at(-1)]).toEqual([7, 7, 7]);
    await shelved.clear();
    expect(await f.isCached(7)).toBe(false);
  });

  it('store location: a miss writes put-if-absent; .call(), a corrupt and an invalid entry replace the version they saw; never an unconditional put', async () => {
    const store = wrappedStore();
    const { memory, warnings } = storeMemory(store);
    let computed = 0;
    let valid = true;
    const f = memory.cache((x: number) => ({ x, computed: ++computed }), { name: 'cas', validate: () => valid });
    await f(1); // marks the store, then the miss
    const entryKey = (await keysOf(store, 'cas'))[0]!;
    const putsBefore = store.calls.put;
    const count = () => ({ putIfAbsent: store.calls.putIfAbsent, version: store.calls.version, replace: store.calls.replace });
    const start = count();
    await f(2);
    expect(count()).toEqual({ ...start, putIfAbsent: start.putIfAbsent + 1 });
    expect((await f.call(1)).info.stored).toBe(true);
    expect(count()).toEqual({ putIfAbsent: start.putIfAbsent + 1, version: start.version + 1, replace: start.replace + 1 });
    // Damaged: recomputed, and replaced over the damaged file's version.
    writeFileSync(store.inner.pathOf(entryKey), 'junk that is not an entry');
    expect(await f(1)).toEqual({ x: 1, computed: 4 });
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_ENTRY_CORRUPT']);
    expect(count()).toEqual({ putIfAbsent: start.putIfAbsent + 1, version: start.version + 2, replace: start.replace + 2 });
    // Refused by validate: recomputed and replaced the same way.
    valid = false;
    expect(await f(1)).toEqual({ x: 1, computed: 5 });
    valid = true;
    expect(count()).toEqual({ putIfAbsent: start.putIfAbsent + 1, version: start.version + 3, replace: start.replace + 3 });
    expect(await f(1)).toEqual({ x: 1, computed: 5 }); // a hit on the replaced entry
    expect(store.calls.put).toBe(putsBefore);
  });

  it('store location: another writer replacing the entry while .call() computes wins; the call returns its own value, not stored, and says so at verbose 1', async () => {
    const store = wrappedStore();
    const { memory, warnings, logs } = storeMemory(store, { verbose: 1 });
    let meddle: (() => Promise<void>) | undefined;
    const h = memory.cache(async (x: number) => {
      await meddle?.();
      return { x, mine: true };
    }, { name: 'race' });
    await h(1);
    const key = (await keysOf(store, 'race'))[0]!;
    // "Another machine" writes a whole entry of its own while this call computes.
    meddle = async () => {
      const entry = (await store.inner.get<{ value: unknown }>(key))!;
      await store.inner.put(key, { ...entry, value: { x: 1, mine: false } });
    };
    const { value, info } = await h.call(1);
    expect([value, info.stored]).toEqual([{ x: 1, mine: true }, false]);
    expect((await store.inner.get<{ value: unknown }>(key))?.value).toEqual({ x: 1, mine: false });
    expect(logs.filter((line) => line.includes(`the entry ${key} was replaced or removed by another writer while this call computed`))).toHaveLength(1);
    expect(warnings).toEqual([]);
    meddle = undefined;
    expect(await h(1)).toEqual({ x: 1, mine: false }); // theirs is the entry
  });

  it('store location: stats, entries, reduceSize, clearFunction and clear read an in-process index filled from the store', async () => {
    const store = wrappedStore();
    const writer = storeMemory(store).memory;
    const a = writer.cache((x: number) => x + 1, { name: 'a' });
    const b = writer.cache((x: number) => x * 2, { name: 'b' });
    for (let x = 0; x < 5; x++) await a(x);
    for (let x = 0; x < 3; x++) await b(x);
    await writer.close();

    // A new Memory knows nothing of them but what the store lists.
    const { memory } = storeMemory(store);
    const stats = await memory.stats();
    expect(stats.entries).toBe(8);
    expect(Object.keys(stats.perFunction).sort()).toEqual(['a', 'b']);
    expect((await memory.list()).map((e) => e.functionName).sort()).toEqual(['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b']);
    expect((await memory.reduceSize({ itemsLimit: 6 })).removed).toBe(2);
    expect((await keysOf(store)).filter((key) => key !== 'larder-cache.json')).toHaveLength(6);
    expect(await memory.clearFunction('b')).toBe(3);
    expect((await memory.stats()).entries).toBe(3);
    await memory.clear();
    expect((await memory.stats()).entries).toBe(0);
    expect(await keysOf(store)).toEqual(['larder-cache.json']); // the marker stays: the store is still ours
  });

  it('store location: says once at verbose >= 1 that statistics use an in-process index, and uses the index option when given', async () => {
    const store = wrappedStore();
    const { memory, logs } = storeMemory(store, { verbose: 1 });
    const f = memory.cache((x: number) => x, { name: 'same' });
    await f(1);
    await f(2);
    await memory.stats();
    expect(logs.filter((line) => line.includes('in-process index'))).toHaveLength(1);

    const indexFile = `${tempDir()}/shared-index.sqlite`;
    const first = storeMemory(store, { index: `sqlite://${indexFile}` }).memory;
    await first.cache((x: number) => x, { name: 'same' })(3);
    await first.close();
    // A second Memory on the same index sees the first one's miss counted, which a listing of the store cannot give.
    const second = storeMemory(wrappedStore(store.inner.root), { index: `sqlite://${indexFile}` }).memory;
    expect((await second.stats()).perFunction.same?.misses).toBe(1);
  });

  it("store location: a store holding someone else's keys is refused: a cached call computes and stores nothing, clear() throws, nothing is deleted", async () => {
    const store = wrappedStore();
    await store.put('their/data', { mine: true });
    const { memory, warnings } = storeMemory(store);
    const f = memory.cache((x: number) => x * 10, { name: 'tens' });
    expect(await f(2)).toBe(20);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_A_CACHE']);
    await expect(memory.clear()).rejects.toMatchObject({ code: 'LARDER_NOT_A_CACHE' });
    await expect(memory.reduceSize({ itemsLimit: 0 })).rejects.toBeInstanceOf(MemoryError);
    expect(await keysOf(store)).toEqual(['their/data']);
  });

  it('store location: a marker of a newer layout is refused; a marker that is not larder is refused', async () => {
    const newer = wrappedStore();
    await newer.put('larder-cache.json', { larder: '@larder/memory', layout: 99 });
    await expect(storeMemory(newer).memory.clear()).rejects.toThrow(/newer larder/);
    const foreign = wrappedStore();
    await foreign.put('larder-cache.json', 'hello');
    await expect(storeMemory(foreign).memory.clear()).rejects.toThrow(/not larder's marker/);
  });

  it('store location: identical slow calls of two Memories over one store object compute once (in-process leases)', async () => {
    const store = wrappedStore();
    let computed = 0;
    const slow = async (x: number) => {
      computed++;
      await sleep(100);
      return x;
    };
    const f1 = storeMemory(store).memory.cache(slow, { name: 'slow' });
    const f2 = storeMemory(store).memory.cache(slow, { name: 'slow' });
    expect(await Promise.all([f1(5), f2(5)])).toEqual([5, 5]);
    expect(computed).toBe(1);
  });

  it('store location: an object that is not a BlobStore is a LARDER_OPTION error naming what is missing', () => {
    expect(() => new Memory({ get: () => undefined } as unknown as BlobStore)).toThrow(expect.objectContaining({ code: 'LARDER_OPTION', message: expect.stringMatching(/location.*BlobStore/) }));
    expect(() => new Memory(5 as unknown as string)).toThrow(expect.objectContaining({ code: 'LARDER_OPTION' }));
  });
});
