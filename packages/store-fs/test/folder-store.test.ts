import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { FolderStore, isLocalBlobStore, openStore, type BlobEntry } from '@larder/store-fs';
import { blobStoreConformance } from '@larder/store-fs/testing';
import { disableAddonForTests } from '../src/native.js';
import { LOAD_MODES } from './load-modes.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
let counter = 0;
const freshRoot = (): string => path.join(dir, `store${counter++}`);
const fixture = fileURLToPath(new URL('./fixtures/legacy-layout', import.meta.url));
const raceWriter = fileURLToPath(new URL('./fixtures/put-if-absent-race.ts', import.meta.url));

async function keysOf(entries: AsyncIterable<BlobEntry>): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of entries) keys.push(entry.key);
  return keys.sort();
}

/** Every file under `root`, relative, sorted. */
function filesUnder(root: string): string[] {
  return (fs.readdirSync(root, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .sort();
}

blobStoreConformance(() => new FolderStore(freshRoot()), {
  describe,
  it,
  name: 'FolderStore',
  damage: (store, key) => fs.writeFileSync(store.pathOf(key), 'not a larder value, just text long enough to look like a header maybe.....'),
  dispose: (store) => fs.rmSync(store.root, { recursive: true, force: true }),
});

blobStoreConformance(() => openStore(freshRoot()), { describe, it, name: 'openStore(path)' });

describe('FolderStore layout', () => {
  it('a key lives at <folders>/@<shard>/<name>.larder: a hex name is sharded by its first two digits, another name by a hash', async () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    expect(isLocalBlobStore(store)).toBe(true);
    expect(store.description).toBe(`folder ${path.resolve(root)}`);
    const info = await store.put('f/9c1d2e3f4a5b6c7d/0123456789abcdef', 1);
    expect(info.path).toBe(path.join(root, 'f', '9c1d2e3f4a5b6c7d', '@01', '0123456789abcdef.larder'));
    expect(store.pathOf('f/9c1d2e3f4a5b6c7d/0123456789abcdef')).toBe(info.path);
    expect(store.pathOf('top')).toMatch(new RegExp(`^${root.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}/@[0-9a-f]{2}/top\\.larder$`));
    expect(store.pathOf('run-1')).toBe(store.pathOf('run-1')); // deterministic
    expect(store.putSync('x/run-1', 2).path).toBe(store.pathOf('x/run-1'));
  });

  it('256 shards spread both hashes and other names: 20,000 keys in one folder leave no shard folder above 2x the mean', () => {
    const store = new FolderStore(freshRoot());
    for (const names of [
      Array.from({ length: 10_000 }, (_, i) => (BigInt(i) * 0x9e3779b97f4a7c15n % (1n << 64n)).toString(16).padStart(16, '0')),
      Array.from({ length: 10_000 }, (_, i) => `run-${i}`),
    ]) {
      const perShard = new Map<string, number>();
      for (const name of names) {
        const shard = path.basename(path.dirname(store.pathOf(`f/${name}`)));
        perShard.set(shard, (perShard.get(shard) ?? 0) + 1);
      }
      expect(perShard.size).toBe(256);
      expect(Math.max(...perShard.values())).toBeLessThan((2 * names.length) / 256);
    }
  });

  it('getSync, get and every load mode read what put and putSync wrote; a miss is undefined', async () => {
    const store = new FolderStore(freshRoot());
    const value = { x: Float64Array.of(1, 2, 3) };
    store.putSync('s/k', value);
    await store.put('a/k', value);
    for (const [mode, options] of LOAD_MODES) {
      for (const key of ['s/k', 'a/k']) {
        const back = store.getSync<{ x: ArrayLike<number> & { toArray?(): Float64Array } }>(key, options)!;
        expect(Array.from(back.x.toArray?.() ?? back.x), `${mode} ${key}`).toEqual([1, 2, 3]);
      }
    }
    expect(store.getSync('s/missing')).toBeUndefined();
    expect(await store.get('never/made/folder/k')).toBeUndefined();
  });

  it('an I/O error other than a missing file is thrown as it is, not taken for a miss (a symlink loop: ELOOP)', async () => {
    const store = new FolderStore(freshRoot());
    await store.put('k', 1);
    const file = store.pathOf('k');
    fs.rmSync(file);
    fs.symlinkSync(path.basename(file), file); // points at itself
    await expect(store.get('k')).rejects.toMatchObject({ code: 'ELOOP' });
    expect(() => store.getSync('k')).toThrow(expect.objectContaining({ code: 'ELOOP' }));
    await expect(store.putIfAbsent('k', 2)).resolves.toBeUndefined(); // the link is something in the key's place
  });

  it('putIfAbsent across processes: of five writers let go at once exactly one writes, and its value is stored', async () => {
    const root = freshRoot();
    const goFile = path.join(dir, `go-${counter++}`);
    const writers = Array.from({ length: 5 }, (_, id) => {
      const child = spawn(process.execPath, ['--conditions=larder-source', '--import', 'tsx', raceWriter, root, 'race/k', String(id), goFile], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
      const ready = new Promise<void>((resolve) => child.stdout.on('data', () => out.startsWith('ready') && resolve()));
      const done = new Promise<string>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`writer ${id} exited with ${code}`)))));
      return { ready, done };
    });
    await Promise.all(writers.map((writer) => writer.ready));
    fs.writeFileSync(goFile, '');
    const reports = (await Promise.all(writers.map((writer) => writer.done))).map((out) => JSON.parse(out.trim().split('\n').at(-1)!) as { id: number; written: boolean });
    const winners = reports.filter((report) => report.written);
    expect(winners).toHaveLength(1);
    expect((await new FolderStore(root).get<{ writer: number }>('race/k'))?.writer).toBe(winners[0]!.id);
    expect(filesUnder(root).filter((file) => file.endsWith('.larder-tmp'))).toEqual([]);
  }, 90_000);

  it('temp files are never listed; list, removePrefix and sweep remove stale ones and leave fresh ones (a writer at work) with their folder', async () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    await store.put('f/0123456789abcdef', 1);
    const shard = path.dirname(store.pathOf('f/0123456789abcdef'));
    const stale = path.join(shard, '.0123456789abcdef.larder.9.dead.larder-tmp');
    const fresh = path.join(shard, '.0123456789abcdef.larder.9.live.larder-tmp');
    fs.writeFileSync(stale, 'x');
    fs.writeFileSync(fresh, 'x');
    const old = new Date(Date.now() - 60 * 60 * 1000);
    fs.utimesSync(stale, old, old);
    expect(await keysOf(store.list())).toEqual(['f/0123456789abcdef']);
    expect([fs.existsSync(stale), fs.existsSync(fresh)]).toEqual([false, true]);
    fs.writeFileSync(stale, 'x');
    fs.utimesSync(stale, old, old);
    expect(await store.sweep()).toBe(1);
    expect(await store.removePrefix('f')).toBe(1);
    expect(filesUnder(root)).toEqual([path.relative(root, fresh)]);
    fs.utimesSync(fresh, old, old);
    expect(await store.removePrefix('')).toBe(0);
    expect(fs.readdirSync(root)).toEqual([]); // the crashed writer's file, then its empty folders, are gone; the root stays
  });

  it("removePrefix leaves what is not the store's (a user's file, a foreign folder) and the folders holding it", async () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    await store.put('f/a/0123456789abcdef', 1);
    await store.put('f/b/0123456789abcdef', 2);
    fs.writeFileSync(path.join(root, 'f', 'a', 'notes.txt'), 'mine');
    fs.mkdirSync(path.join(root, 'f', 'b', 'has space'));
    expect(await store.removePrefix('f')).toBe(2);
    expect(filesUnder(root)).toEqual([path.join('f', 'a', 'notes.txt')]);
    expect(fs.existsSync(path.join(root, 'f', 'b', 'has space'))).toBe(true);
  });

  it('removePrefix removes the leases beside its values (live, set aside, legacy layout), never a lookalike that is not one', async () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    await store.put('f/a/0123456789abcdef', 1);
    const value = store.pathOf('f/a/0123456789abcdef');
    fs.writeFileSync(`${value}.lease`, '{}');
    fs.writeFileSync(`${value}.lease.0a1b2c.stale`, '{}');
    // A lease of a computation still under way: no value yet, only its lease.
    fs.writeFileSync(`${store.pathOf('f/a/01ffffffffffffff')}.lease`, '{}');
    fs.writeFileSync(path.join(root, 'f', 'a', '1123456789abcdef.larder.lease'), '{}'); // beside an unsharded (older layout) value
    fs.writeFileSync(path.join(root, 'f', 'a', 'notes.larder.lease.txt'), 'mine');
    fs.writeFileSync(path.join(path.dirname(value), 'has space.larder.lease'), 'mine'); // not a key's name
    fs.writeFileSync(path.join(path.dirname(value), 'ffffffffffffffff.larder.lease'), 'mine'); // not of this shard: not where a lease goes
    await store.put('g/0123456789abcdef', 2);
    fs.writeFileSync(`${store.pathOf('g/0123456789abcdef')}.lease`, '{}'); // another prefix: kept
    expect(await store.removePrefix('f')).toBe(1);
    const shard = path.relative(root, path.dirname(value));
    expect(filesUnder(root)).toEqual([
      path.join(shard, 'ffffffffffffffff.larder.lease'),
      path.join(shard, 'has space.larder.lease'),
      path.join('f', 'a', 'notes.larder.lease.txt'),
      path.relative(root, `${store.pathOf('g/0123456789abcdef')}.lease`),
      path.relative(root, store.pathOf('g/0123456789abcdef')),
    ].sort());
    expect(await keysOf(store.list(''))).toEqual(['g/0123456789abcdef']);
  });

  it('a put into a folder removed meanwhile (by removePrefix here, or by another process) makes it again', async () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    await store.put('f/0123456789abcdef', 1);
    await new FolderStore(root).removePrefix('');
    await store.put('f/0123456789abcdef', 2);
    store.putSync('f/0123456789abcdef', 3);
    expect(await store.putIfAbsent('f/1123456789abcdef', 4)).toBeDefined();
    fs.rmSync(path.join(root, 'f'), { recursive: true });
    expect(await store.putIfAbsent('f/1123456789abcdef', 5)).toBeDefined();
    expect([await store.get('f/0123456789abcdef'), await store.get('f/1123456789abcdef')]).toEqual([undefined, 5]);
  });

  it('a put makes its temp file in the key\'s folder, not in the shard folder (a create costs less there), and renames it into the shard', async () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    const opened: string[] = [];
    const openSync = fs.openSync;
    const spy = vi.spyOn(fs, 'openSync').mockImplementation((file, ...rest) => (opened.push(String(file)), openSync(file, ...rest)));
    disableAddonForTests(true); // named temp files (with the addon, small puts use unnamed ones: unnamed-write.test.ts)
    try {
      store.putSync('f/b/0123456789abcdef', 1);
      await store.put('f/b/1123456789abcdef', 2);
      expect(await store.putIfAbsent('f/b/2123456789abcdef', 3)).toBeDefined();
    } finally {
      spy.mockRestore();
      disableAddonForTests(false);
    }
    const temps = opened.filter((file) => file.endsWith('.larder-tmp'));
    expect(temps).toHaveLength(3);
    for (const temp of temps) expect(path.dirname(temp)).toBe(path.join(root, 'f', 'b'));
    expect(filesUnder(root)).toEqual(['0', '1', '2'].map((d) => path.join('f', 'b', `@${d}1`, `${d}123456789abcdef.larder`)));
    expect([store.getSync('f/b/0123456789abcdef'), await store.get('f/b/1123456789abcdef'), await store.get('f/b/2123456789abcdef')]).toEqual([1, 2, 3]);
  });

  it('a put whose shard folder was removed meanwhile (its key folder still there) makes the shard folder again', async () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    store.putSync('f/0123456789abcdef', 1);
    const shard = path.dirname(store.pathOf('f/0123456789abcdef'));
    const emptyShard = () => (fs.rmSync(shard, { recursive: true }), expect(fs.existsSync(path.join(root, 'f'))).toBe(true));
    emptyShard();
    store.putSync('f/0123456789abcdef', 2);
    emptyShard();
    await store.put('f/0123456789abcdef', 3);
    emptyShard();
    expect(await store.putIfAbsent('f/0123456789abcdef', 4)).toBeDefined();
    expect(store.getSync('f/0123456789abcdef')).toBe(4);
    expect(filesUnder(root)).toEqual([path.relative(root, store.pathOf('f/0123456789abcdef'))]);
  });
});

describe('FolderStore on a location written by store-fs 0.1 (unsharded: <folders>/<name>.larder)', () => {
  /** A copy of the committed tree that 0.1's BlobStore wrote. */
  const legacyCopy = (): FolderStore => {
    const root = freshRoot();
    fs.cpSync(fixture, root, { recursive: true });
    return new FolderStore(root);
  };
  const KEYS = [
    'load-ab/1111222233334444/aaaabbbbccccdddd',
    'notes/run-1',
    'square-3f2a/00aa11bb22cc33dd/0123456789abcdef',
    'square-3f2a/9c1d2e3f4a5b6c7d/0123456789abcdef',
    'square-3f2a/9c1d2e3f4a5b6c7d/fedcba9876543210',
    'top',
  ];

  it('reads every value in every load mode, where it is (nothing moves on a read)', async () => {
    const store = legacyCopy();
    const before = filesUnder(store.root);
    expect(before).toEqual(KEYS.map((key) => `${key}.larder`).sort());
    expect(await store.get('square-3f2a/9c1d2e3f4a5b6c7d/0123456789abcdef')).toEqual({ value: 9, args: [3] });
    expect(store.getSync('square-3f2a/9c1d2e3f4a5b6c7d/fedcba9876543210')).toEqual({ value: 16, args: [4] });
    expect(await store.get('notes/run-1')).toBe('a non-hex key');
    expect(store.getSync('top')).toEqual([1, 2, 3]);
    for (const [mode, options] of LOAD_MODES) {
      const { signal } = (await store.get<{ signal: ArrayLike<number> & { toArray?(): Float64Array } }>('load-ab/1111222233334444/aaaabbbbccccdddd', options))!;
      expect(Array.from(signal.toArray?.() ?? signal).at(-1), mode).toBe(31.5);
    }
    for (const key of KEYS) expect(await store.has(key), key).toBe(true);
    expect(filesUnder(store.root)).toEqual(before);
  });

  it('lists and removes both layouts, each key once', async () => {
    const store = legacyCopy();
    await store.put('square-3f2a/9c1d2e3f4a5b6c7d/aaaaaaaaaaaaaaaa', { value: 'new layout' });
    expect(await keysOf(store.list())).toEqual([...KEYS, 'square-3f2a/9c1d2e3f4a5b6c7d/aaaaaaaaaaaaaaaa'].sort());
    expect(await keysOf(store.list('square-3f2a/9c1d2e3f4a5b6c7d'))).toEqual([
      'square-3f2a/9c1d2e3f4a5b6c7d/0123456789abcdef',
      'square-3f2a/9c1d2e3f4a5b6c7d/aaaaaaaaaaaaaaaa',
      'square-3f2a/9c1d2e3f4a5b6c7d/fedcba9876543210',
    ]);
    expect(await store.removePrefix('square-3f2a')).toBe(4);
    expect(await store.delete('notes/run-1')).toBe(true);
    expect(await store.delete('notes/run-1')).toBe(false);
    expect(filesUnder(store.root)).toEqual(['load-ab/1111222233334444/aaaabbbbccccdddd.larder', 'top.larder']);
  });

  it('deleteMany removes many keys in both layouts, counts those that held a value, and checks every key before removing any', async () => {
    const store = legacyCopy();
    await store.put('notes/run-2', 'new layout');
    await store.put('notes/run-1', 'replaces the old copy');
    fs.cpSync(path.join(fixture, 'notes/run-1.larder'), path.join(store.root, 'notes/run-1.larder')); // both layouts hold it
    const doomed = ['notes/run-1', 'notes/run-2', 'square-3f2a/9c1d2e3f4a5b6c7d/0123456789abcdef', 'square-3f2a/9c1d2e3f4a5b6c7d/fedcba9876543210', 'top'];
    const bad = await store.deleteMany([...doomed, '../outside']).catch((error: unknown) => error);
    expect(bad).toMatchObject({ code: 'LARDER_OPTION' });
    expect(await store.deleteMany(5 as unknown as string[]).catch((error: unknown) => error)).toMatchObject({ code: 'LARDER_OPTION' });
    expect(await keysOf(store.list())).toEqual([...KEYS, 'notes/run-2'].sort());
    expect(await store.deleteMany([...doomed, 'notes/never-stored', 'absent-folder/0123456789abcdef'])).toBe(5);
    expect(await store.deleteMany(doomed)).toBe(0);
    expect(filesUnder(store.root)).toEqual(['load-ab/1111222233334444/aaaabbbbccccdddd.larder', 'square-3f2a/00aa11bb22cc33dd/0123456789abcdef.larder']);
  });

  it('deleteMany reads each folder for older-layout files once per call: a copy (or symlink) that appeared after an earlier call found the folder free is removed too', async () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    await store.put('f/0123456789abcdef', 1);
    await store.put('f/1123456789abcdef', 2);
    expect(await store.deleteMany(['f/0123456789abcdef'])).toBe(1); // the folder 'f' is read and found free
    fs.writeFileSync(path.join(root, 'f', '2123456789abcdef.larder'), 'an old copy');
    fs.symlinkSync(path.join(root, 'f', '2123456789abcdef.larder'), path.join(root, 'f', '3123456789abcdef.larder'));
    expect(await store.deleteMany(['f/1123456789abcdef', 'f/2123456789abcdef', 'f/3123456789abcdef'])).toBe(3);
    expect(filesUnder(root)).toEqual([]);
  });

  it('an old value counts as present for putIfAbsent; put replaces it with a sharded file and removes the old one', async () => {
    const store = legacyCopy();
    const key = 'square-3f2a/9c1d2e3f4a5b6c7d/0123456789abcdef';
    expect(await store.putIfAbsent(key, 'must not win')).toBeUndefined();
    expect(await store.get(key)).toEqual({ value: 9, args: [3] });
    await store.put(key, 'replaced');
    expect(fs.existsSync(path.join(store.root, `${key}.larder`))).toBe(false);
    expect(fs.existsSync(store.pathOf(key))).toBe(true);
    expect([await store.get(key), await store.has(key)]).toEqual(['replaced', true]);
    expect(await store.delete(key)).toBe(true);
    expect(await store.get(key)).toBeUndefined();
  });

  it('a key found in both layouts (an old writer ran after a new one) is listed once and the sharded value wins', async () => {
    const store = legacyCopy();
    const key = 'notes/run-1';
    await store.put(key, 'new');
    fs.cpSync(path.join(fixture, `${key}.larder`), path.join(store.root, `${key}.larder`));
    expect(await store.get(key)).toBe('new');
    expect((await keysOf(store.list('notes')))).toEqual([key]);
    expect(await store.removePrefix('notes')).toBe(1);
    expect(fs.existsSync(path.join(store.root, 'notes'))).toBe(false);
  });
});
