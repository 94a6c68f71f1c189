/**
 * Every public entry point validates its input: a bad path, option or key is
 * a TypeError with code LARDER_OPTION that names what was wrong and what it
 * got; a MappedArray used after close() is LARDER_CLOSED. And a BlobStore
 * never touches anything outside its root, whatever key it is given.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeLoaded, FolderStore, openStore, S3BlobStore, dump, dumpSync, load, loadSync, MappedArray, type DumpOptions, type LoadOptions } from '@larder/store-fs';
import { inMode } from './load-modes.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
const valid = path.join(dir, 'valid.larder');
dumpSync({ x: new Float64Array(20_000).fill(1.5) }, valid);

/** The error `fn` throws or rejects with. */
async function caught(fn: () => unknown): Promise<Error & { code?: unknown }> {
  try {
    await fn();
  } catch (error) {
    return error as Error & { code?: unknown };
  }
  throw new Error('expected an error');
}

function expectOption(error: Error & { code?: unknown }, name: string, got: string): void {
  expect(error).toBeInstanceOf(TypeError);
  expect(error.code).toBe('LARDER_OPTION');
  expect(error.message.startsWith(`[larder/store-fs] ${name} must be`)).toBe(true);
  expect(error.message).toContain(`got ${got}`);
}

describe('argument validation: LARDER_OPTION naming the argument and the value', () => {
  const badPaths: [unknown, string][] = [[undefined, 'undefined'], [42, '42'], [{}, 'an object'], ['', '""'], [null, 'null']];

  it.each(badPaths)('a path of %j is refused by dump, dumpSync, load and loadSync, before any file is touched', async (bad, shown) => {
    const before = fs.readdirSync(dir);
    expectOption(await caught(() => dumpSync(1, bad as string)), 'path', shown);
    expectOption(await caught(() => dump(1, bad as string)), 'path', shown);
    expectOption(await caught(() => loadSync(bad as string)), 'path', shown);
    expectOption(await caught(() => load(bad as string)), 'path', shown);
    expectOption(await caught(() => load(bad as string, { mmap: 'r' })), 'path', shown);
    expect(fs.readdirSync(dir)).toEqual(before);
  });

  it('async dump and load reject (never throw synchronously) on a bad path', () => {
    const rejected: Promise<unknown>[] = [dump(1, 5 as unknown as string), load(5 as unknown as string)];
    for (const promise of rejected) expect(promise).toBeInstanceOf(Promise);
    return Promise.all(rejected.map((promise) => expect(promise).rejects.toMatchObject({ code: 'LARDER_OPTION' })));
  });

  it.each([
    [{ compress: 'lz4' }, 'compress', '"lz4"'],
    [{ compress: { method: 'gzip', level: 10 } }, 'compress.level', '10'],
    [{ compress: { method: 'zip' } }, 'compress.method', '"zip"'],
    [{ fsync: 'yes' }, 'fsync', '"yes"'],
    [5, 'dump options', '5'],
  ] as [unknown, string, string][])('dump options %j are refused naming %s', async (options, name, shown) => {
    const target = path.join(dir, 'never.larder');
    expectOption(await caught(() => dumpSync(1, target, options as DumpOptions)), name, shown);
    expectOption(await caught(() => dump(1, target, options as DumpOptions)), name, shown);
    expect(fs.existsSync(target)).toBe(false);
  });

  it.each([
    [{ mmap: true }, 'mmap', 'true'],
    [{ shared: 1 }, 'shared', '1'],
    [{ mmapThreshold: -1 }, 'mmapThreshold', '-1'],
    [{ mmapThreshold: 1.5 }, 'mmapThreshold', '1.5'],
    [{ verify: 'no' }, 'verify', '"no"'],
    ['r', 'load options', '"r"'],
  ] as [unknown, string, string][])('load options %j are refused naming %s', async (options, name, shown) => {
    expectOption(await caught(() => loadSync(valid, options as LoadOptions)), name, shown);
    expectOption(await caught(() => load(valid, options as LoadOptions)), name, shown);
  });

  it.each([
    ['dump', { compres: 'gzip' }, /^\[larder\/store-fs\] dump options: unknown option "compres": the options are compress, fsync$/],
    ['dump', { protocol: 4 }, /dump options: unknown option "protocol": not needed/],
    ['load', { mmapThreshhold: 0 }, /^\[larder\/store-fs\] load options: unknown option "mmapThreshhold": the options are mmap, shared, mmapThreshold, verify$/],
    ['load', { mmap_mode: 'r' }, /load options: unknown option "mmap_mode": use mmap: 'r'/],
  ] as [string, object, RegExp][])('regression: %s options with a name no option has (%j) are refused naming it, not ignored', async (how, options, message) => {
    const target = path.join(dir, 'never.larder');
    const attempts = how === 'dump'
      ? [() => dumpSync(1, target, options as DumpOptions), () => dump(1, target, options as DumpOptions)]
      : [() => loadSync(valid, options as LoadOptions), () => load(valid, options as LoadOptions)];
    for (const attempt of attempts) {
      const error = await caught(attempt);
      expect(error).toBeInstanceOf(TypeError);
      expect(error.code).toBe('LARDER_OPTION');
      expect(error.message).toMatch(message);
    }
    expect(fs.existsSync(target)).toBe(false);
  });

  it('MappedArray.chunks with a bad size is LARDER_OPTION', async () => {
    const { x } = inMode('mmap-fallback', () => loadSync<{ x: MappedArray<Float64Array> }>(valid, { mmap: 'r' }));
    expectOption(await caught(() => [...x.chunks(0)]), 'chunk size', '0');
    x.close();
  });
});

describe('use after close: LARDER_CLOSED', () => {
  it.each([
    ['close()', (value: { x: MappedArray<Float64Array> }) => value.x.close()],
    ['closeLoaded(value)', (value: { x: MappedArray<Float64Array> }) => closeLoaded(value)],
  ])('every read of a MappedArray (where the addon is missing) after %s throws LARDER_CLOSED with a clear message', async (_how, close) => {
    const value = inMode('mmap-fallback', () => loadSync<{ x: MappedArray<Float64Array> }>(valid, { mmap: 'r' }));
    expect(value.x.at(0)).toBe(1.5);
    close(value);
    const reads: [string, () => unknown][] = [
      ['at', () => value.x.at(1)],
      ['slice', () => value.x.slice(0, 2)],
      ['toArray', () => value.x.toArray()],
      ['chunks', () => [...value.x.chunks(100)]],
      ['verify', () => value.x.verify()],
    ];
    for (const [name, read] of reads) {
      const error = await caught(read);
      expect(error.code, name).toBe('LARDER_CLOSED');
      expect(error.message).toMatch(/^\[larder\/store-fs\] a MappedArray of .*valid\.larder was used after close\(\)/);
    }
    expect(value.x.length).toBe(20_000); // metadata needs no file
    value.x.close(); // closing twice is fine
  });
});

describe('FolderStore keys never reach outside the root', () => {
  const parent = fs.mkdtempSync(path.join(dir, 'parent-'));
  const root = path.join(parent, 'root');
  const outside = path.join(parent, 'outside.larder');
  fs.writeFileSync(outside, 'must survive');

  const badKeys: unknown[] = ['../outside', '../../etc/passwd', '/abs', outside, 'a/../../outside', '..\\outside', 'C:\\x', 'C:x', 'a/', '', '.', 'a//b', ' x', 'x\0y', 5, undefined, null];

  it.each(badKeys)('the key %j is LARDER_OPTION for every operation, and nothing outside the root changes', async (key) => {
    const store = new FolderStore(root);
    const k = key as string;
    const operations: [string, () => unknown][] = [
      ['pathOf', () => store.pathOf(k)],
      ['put', () => store.put(k, 1)],
      ['putSync', () => store.putSync(k, 1)],
      ['putIfAbsent', () => store.putIfAbsent(k, 1)],
      ['get', () => store.get(k)],
      ['getSync', () => store.getSync(k)],
      ['has', () => store.has(k)],
      ['delete', () => store.delete(k)],
    ];
    for (const [name, operation] of operations) {
      const error = await caught(operation);
      expect(error.code, name).toBe('LARDER_OPTION');
      expect(error.message, name).toMatch(/^\[larder\/store-fs\] (key|prefix) must be/);
    }
    if (typeof key === 'string' && key !== '' && key !== 'a/') {
      // list(prefix) and removePrefix take '' (everything) and one trailing '/'; anything else bad is refused too.
      expect((await caught(() => store.list(key)[Symbol.asyncIterator]().next())).code).toBe('LARDER_OPTION');
      expect((await caught(() => store.removePrefix(key))).code).toBe('LARDER_OPTION');
    }
    expect(fs.readdirSync(parent).sort()).toEqual(['outside.larder']);
    expect(fs.readFileSync(outside, 'utf8')).toBe('must survive');
  });

  it('delete, deleteMany, list, removePrefix and sweep never follow a symlinked folder inside the root to files outside it; a put through one is refused', async () => {
    const base = fs.mkdtempSync(path.join(dir, 'links-'));
    const elsewhere = path.join(base, 'elsewhere');
    fs.mkdirSync(elsewhere);
    const victim = path.join(elsewhere, 'victim.larder');
    dumpSync('outside', victim);
    const staleTemp = path.join(elsewhere, '.x.larder.1.dead.larder-tmp');
    fs.writeFileSync(staleTemp, 'x');
    const old = new Date(Date.now() - 60 * 60 * 1000);
    fs.utimesSync(staleTemp, old, old);
    fs.mkdirSync(path.join(elsewhere, '@b5'));
    const shardedVictim = path.join(elsewhere, '@b5', 'b5b5b5b5.larder');
    dumpSync('outside too', shardedVictim);
    const store = new FolderStore(path.join(base, 'root'));
    await store.put('mine', 1);
    fs.symlinkSync(elsewhere, path.join(store.root, 'link'));
    fs.symlinkSync(victim, path.join(store.root, 'file-link.larder'));
    expect(await store.delete('link/victim')).toBe(false);
    expect(await store.delete('link/b5b5b5b5')).toBe(false);
    expect(await store.deleteMany(['link/victim', 'link/b5b5b5b5', 'file-link'])).toBe(1); // the symlink at a key's place goes itself
    fs.symlinkSync(victim, path.join(store.root, 'file-link.larder'));
    const keys: string[] = [];
    for await (const entry of store.list()) keys.push(entry.key);
    expect(keys).toEqual(['mine']);
    for await (const entry of store.list('link')) keys.push(entry.key);
    expect(keys).toEqual(['mine']);
    expect(await store.sweep(0)).toBe(0);
    expect(await store.removePrefix('link')).toBe(0);
    const refused = await caught(() => store.put('link/new', 1));
    expect([refused.code, refused.message]).toEqual(['LARDER_UNSAFE_PATH', expect.stringContaining('symbolic link')]);
    expect(await caught(() => store.putIfAbsent('link/new', 1))).toMatchObject({ code: 'LARDER_UNSAFE_PATH' });
    expect(fs.readdirSync(elsewhere).sort()).toEqual(['.x.larder.1.dead.larder-tmp', '@b5', 'victim.larder']);
    expect(await store.removePrefix('')).toBe(1); // 'mine'; the symlinks are not values and stay
    expect([fs.existsSync(victim), fs.existsSync(staleTemp), fs.existsSync(shardedVictim)]).toEqual([true, true, true]);
    expect(fs.readdirSync(store.root).sort()).toEqual(['file-link.larder', 'link']);
  });

  it('a bad root, list prefix or sweep age is LARDER_OPTION naming it', async () => {
    for (const bad of ['', 5, undefined]) expectOption(await caught(() => new FolderStore(bad as string)), 'root', bad === '' ? '""' : String(bad));
    const store = new FolderStore(root);
    expectOption(await caught(() => store.list(5 as unknown as string)[Symbol.asyncIterator]().next()), 'prefix', '5');
    expectOption(await caught(() => store.sweep(-1)), 'olderThanMs', '-1');
  });

  it('openStore: a path gives a folder store, a store object is returned as is, anything else is LARDER_OPTION, s3:// gives an S3 store', async () => {
    const store = openStore(root);
    expect(store).toBeInstanceOf(FolderStore);
    expect(store.root).toBe(path.resolve(root));
    expect(openStore(store)).toBe(store);
    expect(openStore(new URL(`file://${root}`).href).root).toBe(path.resolve(root));
    for (const bad of [5, null, undefined, {}, { get() {} }]) {
      const error = await caught(() => openStore(bad as unknown as string));
      expect([error.code, error.message]).toEqual(['LARDER_OPTION', expect.stringMatching(/^\[larder\/store-fs\] location must be a folder path/)]);
    }
    expect((await caught(() => openStore({ get() {} } as unknown as string))).message).toContain('lacks put, putIfAbsent, version, replace, has, delete, list, removePrefix');
    expect(await caught(() => openStore('http://example.com/x'))).toMatchObject({ code: 'LARDER_OPTION' });
    const s3 = openStore('s3://bucket/prefix/', { s3: { endpoint: 'http://127.0.0.1:9' } });
    expect(s3).toBeInstanceOf(S3BlobStore);
    expect([s3.description, s3.bucket, s3.prefix]).toEqual(['s3://bucket/prefix', 'bucket', 'prefix']);
    expect(await caught(() => openStore('s3://Bad_Bucket/x'))).toMatchObject({ code: 'LARDER_OPTION', message: expect.stringContaining('"Bad_Bucket" may hold only lowercase letters') });
    expect(await caught(() => openStore(root, 5 as unknown as object))).toMatchObject({ code: 'LARDER_OPTION', message: expect.stringContaining('options must be an object') });
  });

  it("regression: openStore's misspelt option, and a blank or '~' root, are LARDER_OPTION (they opened a store with the environment's S3 settings, or a folder named '  ' or '~' in the working directory)", async () => {
    for (const options of [{ S3: { endpoint: 'http://127.0.0.1:9' } }, { s3Options: {} }, { cacheDir: '/tmp' }]) {
      const error = await caught(() => openStore('s3://bucket/prefix', options as never));
      expect(error).toMatchObject({ code: 'LARDER_OPTION', message: expect.stringContaining(`openStore(location, options): unknown option ${JSON.stringify(Object.keys(options)[0])}: the options are s3`) });
    }
    for (const bad of ['  ', '\t', '~', '~/cache', '~\\cache']) {
      for (const open of [() => new FolderStore(bad), () => openStore(bad)]) {
        const error = await caught(open);
        expect(error.code).toBe('LARDER_OPTION');
        expect(error.message).toContain(`root must be a`);
      }
    }
    expect(new FolderStore(path.join(root, '~x')).root).toBe(path.resolve(root, '~x')); // a name that only starts with '~' is a name
    // A scheme without its '//' made a folder named 's3:'; a file:// URL with a host threw Node's bare TypeError.
    for (const bad of ['s3:/bucket/x', 'file:cache', 'file://remotehost/tmp/x', 'file:///tmp/a%2Fb']) {
      expect(await caught(() => openStore(bad))).toMatchObject({ code: 'LARDER_OPTION', message: expect.stringContaining('location must be a folder path') });
    }
    expect(openStore('./file:cache').root).toBe(path.resolve('file:cache'));
    expect(openStore('C:\\data').root).toBe(path.resolve('C:\\data')); // a drive letter is no scheme
  });
});
