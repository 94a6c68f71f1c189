import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LegacyBlobStore as BlobStore, dump, dumpSync, FormatError } from '@larder/store-fs';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
let counter = 0;
const freshStore = (): BlobStore => new BlobStore(path.join(dir, `store${counter++}`));

// The 0.1 class, kept for @larder/memory until it moves to the BlobStore interface.
describe('LegacyBlobStore', () => {
  it('creates its root lazily on the first put', async () => {
    const store = freshStore();
    expect(fs.existsSync(store.root)).toBe(false);
    await store.put('a', 1);
    expect(fs.existsSync(store.root)).toBe(true);
  });

  it('a put into a folder that does not exist yet encodes the value once (the folder is made before the retried open, not by redoing the dump)', async () => {
    const store = freshStore();
    let reads = 0;
    // A getter is read once per encode: an honest count of how many times the value was dumped.
    const counted = (elements: number) => ({ get x(): Float64Array { reads++; return new Float64Array(elements).fill(0.5); } });
    const cases = [
      { key: 'new/folder/a', value: counted(1000), options: undefined },
      { key: 'gz/b', value: counted(1000), options: { compress: 'gzip' as const } },
      { key: 'big/c', value: counted(600_000), options: undefined }, // > 4 MiB: the streamed write path
    ];
    for (const { key, value, options } of cases) {
      reads = 0;
      await store.put(key, value, options);
      store.putSync(`sync/${key}`, value, options);
      expect(reads, key).toBe(2); // one put, one putSync
      const [sync, async] = [store.getSync<{ x: Float64Array }>(`sync/${key}`).x, (await store.get<{ x: Float64Array }>(key)).x];
      expect(Buffer.compare(Buffer.from(sync.buffer, sync.byteOffset, sync.byteLength), Buffer.from(async.buffer, async.byteOffset, async.byteLength))).toBe(0);
      expect([sync.length, sync.at(-1)]).toStrictEqual([value.x.length, 0.5]);
    }
  });

  it('dump and dumpSync (not BlobStore) still refuse a missing folder with ENOENT', async () => {
    const target = path.join(dir, 'no-such-folder', 'x.larder');
    await expect(dump(1, target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => dumpSync(1, target)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(fs.existsSync(path.dirname(target))).toBe(false);
  });

  it('put then get returns the value; keys with / map to subfolders', async () => {
    const store = freshStore();
    const info = await store.put('fn/abc/123', { x: Float64Array.of(1, 2) });
    expect(info.path).toBe(path.join(store.root, 'fn', 'abc', '123.larder'));
    expect(store.pathOf('fn/abc/123')).toBe(info.path);
    expect(await store.get('fn/abc/123')).toStrictEqual({ x: Float64Array.of(1, 2) });
    expect(store.getSync('fn/abc/123')).toStrictEqual({ x: Float64Array.of(1, 2) });
  });

  it('pathsUnder(prefix) gives the paths pathOf gives, validating the prefix once and each name', () => {
    const store = freshStore();
    const pathIn = store.pathsUnder('fn/abc');
    for (const name of ['123', 'a.b-c_d', 'sub/key']) expect(pathIn(name)).toBe(store.pathOf(`fn/abc/${name}`));
    expect(store.pathsUnder('')('top')).toBe(store.pathOf('top'));
    expect(new BlobStore('/').pathsUnder('')('top')).toBe('/top.larder');
    for (const bad of ['', '..', '.', 'a/../b', '/abs', 'a b', 'sub/', 5 as unknown as string]) {
      expect(() => pathIn(bad), String(bad)).toThrow(TypeError);
    }
    for (const bad of ['..', 'a/../b', '/abs', 'x/']) expect(() => store.pathsUnder(bad), bad).toThrow('invalid key');
  });

  it('putSync and getSync work without any prior async call', () => {
    const store = freshStore();
    store.putSync('deep/er/key', 'v');
    expect(store.getSync('deep/er/key')).toBe('v');
  });

  it('get of a missing key rejects with the fs ENOENT error', async () => {
    const store = freshStore();
    await expect(store.get('nope')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => store.getSync('nope')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('get of a corrupt file rejects with FormatError', async () => {
    const store = freshStore();
    await store.put('k', 'value');
    fs.writeFileSync(store.pathOf('k'), 'not a larder file at all, just text long enough to be a header maybe....');
    await expect(store.get('k')).rejects.toBeInstanceOf(FormatError);
  });

  it('has and delete report presence; deleting a missing key is not an error', async () => {
    const store = freshStore();
    await store.put('x/y', 1);
    expect(await store.has('x/y')).toBe(true);
    expect(await store.has('x')).toBe(false);
    expect(await store.delete('x/y')).toBe(true);
    expect(await store.delete('x/y')).toBe(false);
    expect(await store.has('x/y')).toBe(false);
  });

  it('list returns every key with its size, under a prefix when given, never temp files', async () => {
    const store = freshStore();
    expect(await store.list()).toStrictEqual([]);
    await store.put('a', 1);
    await store.put('f/b', new Float64Array(100));
    await store.put('f/g/c', 'c');
    fs.writeFileSync(path.join(store.root, 'f', '.b.larder.1.abc.larder-tmp'), 'partial');
    const all = await store.list();
    expect(all.map((entry) => entry.key)).toStrictEqual(['a', 'f/b', 'f/g/c']);
    expect(all[1]!.bytes).toBe(fs.statSync(store.pathOf('f/b')).size);
    expect(all[1]!.mtimeMs).toBeGreaterThan(Date.now() - 60_000);
    expect((await store.list('f')).map((entry) => entry.key)).toStrictEqual(['f/b', 'f/g/c']);
    expect(await store.list('missing')).toStrictEqual([]);
  });

  it('stale temp files are swept, fresh ones are left to their writer', async () => {
    const store = freshStore();
    await store.put('k', 1);
    const stale = path.join(store.root, '.k.larder.9.dead.larder-tmp');
    const fresh = path.join(store.root, '.k.larder.9.live.larder-tmp');
    fs.writeFileSync(stale, 'x');
    fs.writeFileSync(fresh, 'x');
    const old = new Date(Date.now() - 60 * 60 * 1000);
    fs.utimesSync(stale, old, old);
    expect(await store.sweep()).toBe(1);
    expect([fs.existsSync(stale), fs.existsSync(fresh)]).toStrictEqual([false, true]);
  });

  it.each(['', '/abs', 'a//b', 'a/../b', '.', 'a/./b', 'sp ace', 'a\\b', 'trailing/'])('rejects the invalid key %j naming it', (key) => {
    const store = freshStore();
    expect(() => store.pathOf(key)).toThrow(TypeError);
    expect(() => store.pathOf(key)).toThrow(JSON.stringify(key));
  });

  it('a put replaces the previous value atomically: a failing put leaves it intact', async () => {
    const store = freshStore();
    await store.put('k', { v: 1 });
    await expect(store.put('k', { v: () => 2 })).rejects.toThrow('$.v is a function');
    expect(await store.get('k')).toStrictEqual({ v: 1 });
    expect(fs.readdirSync(store.root)).toStrictEqual(['k.larder']);
  });

  it('get passes load options through (mmap, shared)', async () => {
    const store = freshStore();
    await store.put('big', new Float64Array(20_000).fill(3));
    const mapped = await store.get<Float64Array>('big', { mmap: 'r' });
    expect(mapped).toBeInstanceOf(Float64Array);
    expect((mapped as Float64Array)[5]).toBe(3);
    const shared = store.getSync<Float64Array>('big', { shared: true });
    expect(shared.buffer).toBeInstanceOf(SharedArrayBuffer);
  });
});
