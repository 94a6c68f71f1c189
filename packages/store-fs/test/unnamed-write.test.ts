/**
 * Small synchronous writes through an unnamed temp file (O_TMPFILE, named by linkat through the
 * addon), and the fall back to named temp files where the system refuses them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dumpSync, FolderStore, loadSync } from '@larder/store-fs';
import { disableAddonForTests, nativeAddon } from '../src/native.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
let roots = 0;
const freshRoot = () => path.join(dir, String(roots++));
const addon = nativeAddon();
const onLinux = process.platform === 'linux' && addon !== undefined;

/** Records the folders unnamed files are opened in and the named temp files opened, around `run`. */
function watchOpens(run: () => unknown): { unnamed: string[]; named: string[] } {
  const unnamed: string[] = [];
  const named: string[] = [];
  const openUnnamed = addon!.openUnnamed.bind(addon);
  const openSync = fs.openSync;
  const spyUnnamed = vi.spyOn(addon!, 'openUnnamed').mockImplementation((folder) => (unnamed.push(folder), openUnnamed(folder)));
  const spyNamed = vi.spyOn(fs, 'openSync').mockImplementation((file, ...rest) => {
    if (String(file).endsWith('.larder-tmp')) named.push(String(file));
    return openSync(file, ...rest);
  });
  try {
    run();
  } finally {
    spyUnnamed.mockRestore();
    spyNamed.mockRestore();
  }
  return { unnamed, named };
}

afterEach(() => {
  vi.restoreAllMocks();
  disableAddonForTests(false);
});

describe.runIf(onLinux)('unnamed temp files', () => {
  it('a small put writes an unnamed file in the key\'s folder and links it into the shard: no named temp file, nothing left over', () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    const { unnamed, named } = watchOpens(() => {
      store.putSync('f/b/0123456789abcdef', { a: new Float64Array([1, 2]) });
      store.putSync('f/b/1123456789abcdef', 'two');
    });
    expect(unnamed).toEqual([path.join(root, 'f', 'b'), path.join(root, 'f', 'b')]);
    expect(named).toEqual([]);
    expect(store.getSync('f/b/0123456789abcdef')).toEqual({ a: new Float64Array([1, 2]) });
    expect(store.getSync('f/b/1123456789abcdef')).toBe('two');
    const files = fs.readdirSync(root, { recursive: true }).map(String).filter((f) => fs.statSync(path.join(root, f)).isFile());
    expect(files.sort()).toEqual([path.join('f', 'b', '@01', '0123456789abcdef.larder'), path.join('f', 'b', '@11', '1123456789abcdef.larder')]);
  });

  it('a put over an existing value replaces it; put-if-absent keeps it', async () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    store.putSync('k/0123456789abcdef', 1);
    const { unnamed } = watchOpens(() => store.putSync('k/0123456789abcdef', 2));
    expect(unnamed).toHaveLength(1);
    expect(store.getSync('k/0123456789abcdef')).toBe(2);
    expect(await store.putIfAbsent('k/0123456789abcdef', 3)).toBeUndefined();
    expect(store.getSync('k/0123456789abcdef')).toBe(2);
    expect(fs.readdirSync(path.join(root, 'k'), { recursive: true }).map(String).filter((f) => f.endsWith('.larder-tmp'))).toEqual([]);
    // dumpSync over a file the user made replaces it the same way.
    const file = path.join(root, 'plain.larder');
    fs.writeFileSync(file, 'not yet');
    dumpSync([1, 2, 3], file);
    expect(loadSync(file)).toEqual([1, 2, 3]);
  });

  it('a put into a shard folder removed meanwhile makes it again and links there', () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    store.putSync('f/0123456789abcdef', 1);
    fs.rmSync(path.join(root, 'f', '@01'), { recursive: true });
    const { unnamed, named } = watchOpens(() => store.putSync('f/0123456789abcdef', 2));
    expect([unnamed.length, named.length]).toEqual([1, 0]);
    expect(store.getSync('f/0123456789abcdef')).toBe(2);
  });

  it('a failing write leaves no file at all, named or not', () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    store.putSync('f/0123456789abcdef', 1);
    const writeSync = fs.writeSync;
    vi.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    });
    expect(() => store.putSync('f/1123456789abcdef', 2)).toThrow(/ENOSPC/);
    fs.writeSync = writeSync;
    vi.restoreAllMocks();
    const files = fs.readdirSync(root, { recursive: true }).map(String).filter((f) => fs.statSync(path.join(root, f)).isFile());
    expect(files).toEqual([path.join('f', '@01', '0123456789abcdef.larder')]);
  });

  it('where the addon is missing, writes go through named temp files', () => {
    const root = freshRoot();
    disableAddonForTests(true);
    const store = new FolderStore(root);
    const { unnamed, named } = watchOpens(() => store.putSync('f/0123456789abcdef', 1));
    expect(unnamed).toEqual([]);
    expect(named).toHaveLength(1);
    expect(store.getSync('f/0123456789abcdef')).toBe(1);
  });

  it('an older build of the addon without these functions (a local node-gyp build) writes through named temp files', () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    const own = addon as unknown as Record<string, unknown>;
    const saved = own.openUnnamed;
    delete own.openUnnamed;
    try {
      const named: string[] = [];
      const openSync = fs.openSync;
      vi.spyOn(fs, 'openSync').mockImplementation((file, ...rest) => (named.push(String(file)), openSync(file, ...rest)));
      store.putSync('f/0123456789abcdef', 1);
      expect(named.filter((file) => file.endsWith('.larder-tmp'))).toHaveLength(1);
    } finally {
      own.openUnnamed = saved;
    }
    expect(store.getSync('f/0123456789abcdef')).toBe(1);
  });

  // Last: a refusal turns unnamed files off for the rest of the process (this file's module instance).
  it('where the system refuses unnamed files (no O_TMPFILE), the write and every later one use named temp files', () => {
    const root = freshRoot();
    const store = new FolderStore(root);
    vi.spyOn(addon!, 'openUnnamed').mockReturnValue(-os.constants.errno.EOPNOTSUPP);
    const first = watchOpens(() => store.putSync('f/0123456789abcdef', 1));
    expect(first.named).toHaveLength(1);
    vi.restoreAllMocks();
    const later = watchOpens(() => store.putSync('f/1123456789abcdef', 2));
    expect(later).toEqual({ unnamed: [], named: [expect.stringMatching(/\.larder-tmp$/)] });
    expect([store.getSync('f/0123456789abcdef'), store.getSync('f/1123456789abcdef')]).toEqual([1, 2]);
  });
});
