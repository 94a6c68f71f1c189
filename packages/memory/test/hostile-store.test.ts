/**
 * A store object as the location (an S3 prefix, a shared bucket) is marked as
 * larder's, but others can still write into it after that: keys under a
 * function's folder that larder never writes (`fn/notes`, `fn/<body>/readme`,
 * `fn/<body>/<hash>/extra`). Clearing a function, clearing stale bodies and
 * clear() remove larder's entries only; those keys stay.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { FolderStore, type BlobStore } from '@larder/store-fs';
import { throughInterface } from '@larder/store-fs/testing';
import { Memory } from '@larder/memory';
import { tempDir } from './helpers.js';

const memories: Memory[] = [];
afterAll(async () => {
  for (const memory of memories) await memory.close();
});

/** A FolderStore seen only through the BlobStore interface (as an S3 store is). */
const plainStore = (): BlobStore => throughInterface(new FolderStore(tempDir()));

async function keysOf(store: BlobStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of store.list('')) keys.push(key);
  return keys.sort();
}

async function setUp() {
  const store = plainStore();
  const memory = new Memory(store, { onWarning: () => {} });
  memories.push(memory);
  const f = memory.cache((x: number) => x + 1, { name: 'inc' });
  const { info } = await f.call(1);
  const [folder, body, hash] = info.id.split('/') as [string, string, string];
  // Written by someone else after larder marked the store.
  const foreign = [`${folder}/notes`, `${folder}/${body}/readme`, `${folder}/${body}/${hash}/extra`];
  for (const key of foreign) await store.put(key, { theirs: key });
  return { store, memory, f, folder, foreign, entry: info.id };
}

describe('a store location: keys larder does not write, under a function folder', () => {
  it.each([
    ['fn.clear()', (set: Awaited<ReturnType<typeof setUp>>) => set.f.clear()],
    ['memory.clear()', (set: Awaited<ReturnType<typeof setUp>>) => set.memory.clear()],
    ['memory.clearFunction()', (set: Awaited<ReturnType<typeof setUp>>) => set.memory.clearFunction('inc')],
  ])("%s removes the entry and keeps the others' keys", async (_what, clear) => {
    const set = await setUp();
    await clear(set);
    const left = await keysOf(set.store);
    expect(left).not.toContain(set.entry);
    for (const key of set.foreign) expect(left).toContain(key);
  });

  it('clearStale() removing an old body keeps the others\' keys under it', async () => {
    const { store, memory, foreign, entry } = await setUp();
    // A newer body of the same name, and a staleAfter of 0: the first body is stale.
    const stale = new Memory(store, { onWarning: () => {}, staleAfter: 0 });
    memories.push(stale);
    await stale.cache((x: number) => x + 2, { name: 'inc' })(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await stale.clearStale();
    const left = await keysOf(store);
    expect(left).not.toContain(entry);
    for (const key of foreign) expect(left).toContain(key);
    void memory;
  });
});
