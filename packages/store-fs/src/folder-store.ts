/**
 * FolderStore: the local blob store. One store-fs file per key under a root
 * folder; the store alone decides paths, suffixes, sharding and temp files.
 *
 * Layout: the key `a/b/<name>` lives at `<root>/a/b/@<xx>/<name>.larder`,
 * where `<xx>` is the shard of `<name>`: its first two characters when it is
 * a lowercase hex string of 8 or more (a hash: already uniform), else two hex
 * digits of a 32-bit FNV-1a hash of it. 256 shards keep a folder of a million
 * keys at ~4,000 files per folder. '@' is outside the key alphabet, so a
 * shard folder can never be mistaken for a key segment.
 *
 * Older layout: store-fs 0.1 put the key at `<root>/a/b/<name>.larder`
 * (unsharded). Those files stay readable where they are: a get that misses
 * in the sharded place looks there (a hit in the sharded place costs nothing
 * extra), list and removePrefix see both, put and delete remove the old copy.
 *
 * Temp files: a put writes `.<name>.larder.<writer>.larder-tmp` in the key's
 * folder (`<root>/a/b/`, not the shard folder) and renames it into its shard:
 * creating a file in one small folder that temp files keep passing through
 * costs a fraction of creating it in one of 256 large shard folders (the
 * create was most of a small put). The rename stays within the root's file
 * system, so it is atomic all the same. Temp files are never listed as
 * values; a crashed writer's are swept once stale.
 *
 * Side files: a file beside a value named `<name>.larder.lease` (or
 * `<name>.larder.lease.<hex>.stale`, one being taken over) is the in-flight
 * lease of that key (@larder/memory's lease files, placed with `pathOf`). It
 * is never listed as a value; removePrefix removes it with the values, so
 * clearing a prefix leaves none of larder's files behind.
 *
 * Safety: listing and removing never follow a symlink (a symlinked folder is
 * skipped, a symlink is never unlinked as a value), writes go only into real
 * folders under the root (checked once per folder per store), and nothing
 * outside the root is touched. The root itself may be a symlink: it is the
 * store.
 */
import fs from 'node:fs';
import { lstat, opendir, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { TEMP_SUFFIX } from './atomic-write.js';
import type { BlobEntry, LocalBlobStore } from './blob-store.js';
import { dumpFile, dumpFileSync, type DumpInfo } from './dump.js';
import { badOption, codedError } from './errors.js';
import { checkKey, checkPrefix, isSegment } from './keys.js';
import { load, loadSync } from './load.js';
import type { DumpOptions, LoadOptions } from './options.js';

/** Every stored file ends with this. */
const BLOB_SUFFIX = '.larder';
/** Temp files older than this are leftovers of a crashed writer; list, removePrefix and sweep remove them. */
const STALE_TEMP_MS = 15 * 60 * 1000;
const HEX_NAME = /^[0-9a-f]{8,}$/;
const SHARD_FOLDER = /^@[0-9a-f]{2}$/;
/**
 * Unlinks in flight at once in deleteMany: enough to keep the thread pool busy and let the
 * file system batch them into one journal transaction (measured in bench/scale.ts: one at a
 * time waits on every metadata update while other processes write), bounded so a prune of a
 * million keys holds little.
 */
const UNLINKS_IN_FLIGHT = 32;
/** A lease file beside a value (see "Side files" above); the group is the value's name. */
const SIDE_FILE = /^(.+)\.larder\.lease(\.[0-9a-f]+\.stale)?$/;
/** Files stat'ed at once while listing: enough to overlap, bounded so a listing holds little. */
const STAT_BATCH = 64;
/**
 * put and putIfAbsent write values up to this size synchronously: measured in
 * bench/store-fs.ts, a small async put costs 2-3× a sync one (four thread-pool
 * round trips for open, write, close, rename), while a 256 KiB write blocks
 * the event loop for well under a millisecond. Larger values use the
 * pipelined async dump.
 */
const SYNC_PUT_BYTES = 256 * 1024;

/** The shard of a key's last segment: two hex digits. */
export function shardOf(name: string): string {
  if (HEX_NAME.test(name)) return name.slice(0, 2);
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return ((hash ^ (hash >>> 8) ^ (hash >>> 16) ^ (hash >>> 24)) & 0xff).toString(16).padStart(2, '0');
}

/** Where a key's value lives: its folder (the older layout's place), and its sharded file. */
interface Place {
  readonly parts: readonly string[];
  /** The key's last segment. */
  readonly name: string;
  readonly folder: string;
  readonly sharded: string;
}

/** A value file found by a walk. */
interface Found {
  key: string;
  file: string;
  /** An older-layout file whose key also has a sharded file (which is the value). */
  shadowed: boolean;
  info: fs.Stats;
}

interface WalkOptions {
  staleBefore: number;
  onSwept?: () => void;
  /** Receives every side file (a lease of a key under the prefix); without it they are passed over. */
  onSideFile?: (file: string) => Promise<void>;
  /** Receives every folder visited, parents before children. */
  folders?: string[];
}

/**
 * The local folder store. `openStore(path)` returns one.
 *
 * @example
 * ```ts
 * import { FolderStore } from '@larder/store-fs';
 * const store = new FolderStore('/tmp/larder-folder');
 * await store.put('results/f/0123456789abcdef', { x: new Float64Array([1, 2]) });
 * store.pathOf('results/f/0123456789abcdef'); // '/tmp/larder-folder/results/f/@01/0123456789abcdef.larder'
 * store.getSync('results/f/0123456789abcdef'); // { x: Float64Array [1, 2] }
 * ```
 */
export class FolderStore implements LocalBlobStore {
  /** The absolute root folder (created on the first put). */
  readonly root: string;
  readonly description: string;
  /** Folders checked to be real folders under the root (see #ensureFolder). */
  readonly #realFolders = new Set<string>();
  /** Folders found to hold no older-layout value (see #mayHoldLegacy). */
  readonly #legacyFree = new Set<string>();
  /** The root with one separator at its end (the file system's root already has it). */
  readonly #rootSlash: string;
  #lastKey: string | undefined;
  #lastPlace: Place | undefined;

  constructor(root: string) {
    if (typeof root !== 'string' || root.trim() === '' || root.includes('\0')) throw badOption('root', 'a non-empty folder path string', root);
    // Not expanded by anything but a shell: '~/cache' would make a folder named '~' in the working directory.
    if (root === '~' || root.startsWith('~/') || root.startsWith('~\\')) throw badOption('root', "a folder path; '~' is not expanded (a folder named '~' would be made in the working directory): use join(homedir(), ...) from node:os and node:path", root);
    this.root = path.resolve(root);
    this.#rootSlash = this.root.endsWith(path.sep) ? this.root : this.root + path.sep;
    this.description = `folder ${this.root}`;
  }

  pathOf(key: string): string {
    return this.#place(key).sharded;
  }

  getSync<T = unknown>(key: string, options?: LoadOptions): T | undefined {
    const place = this.#place(key);
    try {
      return loadSync<T>(place.sharded, options) as T;
    } catch (error) {
      if (!isAbsent(error)) throw error;
    }
    if (!this.#hasLegacy(place)) return undefined;
    try {
      return loadSync<T>(this.#legacy(place), options) as T;
    } catch (error) {
      if (isAbsent(error)) return undefined; // removed meanwhile
      throw error;
    }
  }

  sizeSync(key: string): number | undefined {
    const place = this.#place(key);
    // stat, not lstat: a read follows a symlink too. No exception for a missing file (it costs more than the syscall).
    const size = lstatOrUndefined(place.sharded, true)?.size;
    if (size !== undefined || !this.#mayHoldLegacy(place)) return size;
    return lstatOrUndefined(this.#legacy(place), true)?.size;
  }

  async get<T = unknown>(key: string, options?: LoadOptions): Promise<T | undefined> {
    const place = this.#place(key);
    try {
      return (await load<T>(place.sharded, options)) as T;
    } catch (error) {
      if (!isAbsent(error)) throw error;
    }
    if (!this.#hasLegacy(place)) return undefined;
    try {
      return (await load<T>(this.#legacy(place), options)) as T;
    } catch (error) {
      if (isAbsent(error)) return undefined; // removed meanwhile
      throw error;
    }
  }

  putSync(key: string, value: unknown, options?: DumpOptions): DumpInfo {
    const place = this.#place(key);
    const file = place.sharded;
    const folder = path.dirname(file);
    this.#ensureFolder(folder);
    const info = dumpFileSync(value, file, options, { makeDirs: () => this.#ensureFolder(folder, true), tempFolder: place.folder })!;
    this.#removeLegacy(place);
    return info;
  }

  async put(key: string, value: unknown, options?: DumpOptions): Promise<DumpInfo> {
    const place = this.#place(key);
    const file = place.sharded;
    const folder = path.dirname(file);
    this.#ensureFolder(folder);
    const info = (await dumpFile(value, file, options, { makeDirs: () => this.#ensureFolder(folder, true), tempFolder: place.folder, syncUpTo: SYNC_PUT_BYTES }))!;
    this.#removeLegacy(place);
    return info;
  }

  async putIfAbsent(key: string, value: unknown, options?: DumpOptions): Promise<DumpInfo | undefined> {
    const place = this.#place(key);
    // A value in the older layout is a value: it is not shadowed by a new one.
    if (this.#mayHoldLegacy(place) && isFileSync(this.#legacy(place))) return undefined;
    const file = place.sharded;
    const folder = path.dirname(file);
    this.#ensureFolder(folder);
    return dumpFile(value, file, options, { makeDirs: () => this.#ensureFolder(folder, true), tempFolder: place.folder, exclusive: true, syncUpTo: SYNC_PUT_BYTES });
  }

  /** `<inode>-<size>-<mtime in ns>` of the file `get` would read (see {@link BlobStore.version}). */
  async version(key: string): Promise<string | undefined> {
    return this.#versionOf(this.#place(key));
  }

  /**
   * {@link BlobStore.replace}: the value is written to a temp file, the key's version is
   * compared just before the rename, and the rename happens only if it still matches. A
   * replace that lands between that comparison and the rename (one system call) is
   * overwritten: two processes replacing one version at the same instant may both write.
   * Within one machine, @larder/memory's lease serialises writers of an entry anyway.
   */
  async replace(key: string, value: unknown, version: string, options?: DumpOptions): Promise<DumpInfo | undefined> {
    const place = this.#place(key);
    if (typeof version !== 'string' || version === '') throw badOption('version', 'a version string from version(key)', version);
    if (this.#versionOf(place) !== version) return undefined; // moved on already: nothing to encode
    const file = place.sharded;
    const folder = path.dirname(file);
    this.#ensureFolder(folder);
    const placeIf = () => this.#versionOf(place) === version;
    const info = await dumpFile(value, file, options, { makeDirs: () => this.#ensureFolder(folder, true), tempFolder: place.folder, placeIf, syncUpTo: SYNC_PUT_BYTES });
    if (info !== undefined) this.#removeLegacy(place);
    return info;
  }

  async has(key: string): Promise<boolean> {
    const place = this.#place(key);
    // Metadata-only checks, done synchronously: an async stat costs a thread-pool round trip and,
    // for a missing file, an exception.
    return isFileSync(place.sharded) || (this.#mayHoldLegacy(place) && isFileSync(this.#legacy(place)));
  }

  /** Removes `key`; never through a symlinked folder (then false), and a symlink at the key's place is removed itself. */
  async delete(key: string): Promise<boolean> {
    return (await this.deleteMany([key])) === 1;
  }

  /**
   * Removes many keys at once; returns how many held a value. What `delete` does for each,
   * with fewer system calls: each folder on the way is checked once per call (a real folder,
   * never a symlink: keys under one that is not are skipped), the older layout's copy is
   * looked for only in a folder found (once per call) to hold older-layout files, and the unlinks run {@link UNLINKS_IN_FLIGHT} at a
   * time in the thread pool. For maintenance over many keys (pruning a cache): pass a page at a
   * time (a few thousand keys).
   *
   * @example
   * ```ts
   * import { FolderStore } from '@larder/store-fs';
   * const store = new FolderStore('/tmp/larder-folder-many');
   * await store.put('runs/0123456789abcdef', 1);
   * await store.deleteMany(['runs/0123456789abcdef', 'runs/fedcba9876543210']); // 1
   * ```
   */
  async deleteMany(keys: readonly string[]): Promise<number> {
    if (!Array.isArray(keys)) throw badOption('keys', 'an array of keys', keys);
    const places = keys.map((key) => this.#place(key)); // every key checked before anything is removed
    const checked = new Map<string, boolean>();
    const isReal = (folder: string) => {
      let real = checked.get(folder);
      if (real === undefined) checked.set(folder, (real = this.#realFolderSync(folder)));
      return real;
    };
    // Each folder is read for older-layout files (or symlinks) once per call, never from what an
    // earlier call found (a folder once free of them may have gained one since); a key's own
    // older-layout path is looked at only in a folder that holds any (one lstat per key cost
    // more than the rest of a deletion's checks at a million entries).
    const legacyIn = new Map<string, boolean>();
    const mayHoldLegacy = (folder: string) => {
      let holds = legacyIn.get(folder);
      if (holds === undefined) legacyIn.set(folder, (holds = scanForLegacy(folder) === 'holds'));
      return holds;
    };
    // Per key, the files to unlink (metadata checks only: no exception for a missing file).
    const files: string[][] = [];
    for (const place of places) {
      if (!isReal(place.folder)) continue;
      const mine = isReal(path.dirname(place.sharded)) ? [place.sharded] : [];
      if (mayHoldLegacy(place.folder) && lstatOrUndefined(this.#legacy(place)) !== undefined) mine.push(this.#legacy(place));
      if (mine.length > 0) files.push(mine);
    }
    let removed = 0;
    let next = 0;
    const unlinker = async () => {
      for (let i = next++; i < files.length; i = next++) {
        let gone = false;
        for (const file of files[i]!) gone = (await removeQuietly(file)) || gone;
        if (gone) removed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(UNLINKS_IN_FLIGHT, files.length) }, unlinker));
    return removed;
  }

  /** Streams the values under `prefix` (see {@link BlobStore.list}); stale temp files are removed on the way. */
  async *list(prefix = ''): AsyncIterable<BlobEntry> {
    const parts = checkPrefix(prefix);
    for await (const found of this.#walk(parts, { staleBefore: Date.now() - STALE_TEMP_MS })) {
      if (!found.shadowed) yield { key: found.key, bytes: found.info.size, mtimeMs: found.info.mtimeMs };
    }
  }

  /**
   * Removes every value under `prefix` (both layouts), their side files (leases),
   * stale temp files, and then the folders left empty (rmdir, never a recursive rm: a folder holding
   * anything else, a fresh temp file of a writer at work or a user's file,
   * stays). Returns how many values were removed.
   */
  async removePrefix(prefix: string): Promise<number> {
    const parts = checkPrefix(prefix);
    const folders: string[] = [];
    let removed = 0;
    const onSideFile = async (file: string) => void (await removeQuietly(file));
    for await (const found of this.#walk(parts, { staleBefore: Date.now() - STALE_TEMP_MS, folders, onSideFile })) {
      if ((await removeQuietly(found.file)) && !found.shadowed) removed++;
    }
    this.#realFolders.clear();
    this.#legacyFree.clear();
    for (const folder of folders.reverse()) {
      if (folder !== this.root) await rmdir(folder).catch(() => undefined);
    }
    return removed;
  }

  /** Removes temp files older than `olderThanMs` (default 15 minutes) left by crashed writers; returns how many. */
  async sweep(olderThanMs = STALE_TEMP_MS): Promise<number> {
    if (typeof olderThanMs !== 'number' || !(olderThanMs >= 0)) throw badOption('olderThanMs', 'a non-negative number of milliseconds', olderThanMs);
    let swept = 0;
    // The walk sweeps as it goes; the values it finds are not needed here.
    for await (const _ of this.#walk([], { staleBefore: Date.now() - olderThanMs, onSwept: () => swept++ }));
    return swept;
  }

  /**
   * Where `key` lives (checked: a bad key throws). The last key's answer is kept: a cache miss
   * asks for the same key twice in a row (its size, then its put), and the path joins cost more
   * than the syscalls they prepare.
   */
  #place(key: string): Place {
    if (key === this.#lastKey && this.#lastPlace !== undefined) return this.#lastPlace;
    const parts = checkKey(key);
    const name = parts.at(-1)!;
    // Joined by hand: the root is absolute and normalized, and checkKey let through only plain
    // segments, so path.join's normalizing pass (a share of a small miss) would change nothing.
    const folder = parts.length === 1 ? this.root : this.#rootSlash + parts.slice(0, -1).join(path.sep);
    const place = { parts, name, folder, sharded: `${folder}${path.sep}@${shardOf(name)}${path.sep}${name}${BLOB_SUFFIX}` };
    this.#lastKey = key;
    this.#lastPlace = place;
    return place;
  }

  /** The version of the file a read of `place` finds (the older layout's when the sharded one is missing). */
  #versionOf(place: Place): string | undefined {
    const info = fileStatOrUndefined(place.sharded) ?? (this.#mayHoldLegacy(place) ? fileStatOrUndefined(this.#legacy(place)) : undefined);
    // A new file is a new inode (temp file + rename); size and ns mtime guard against an inode reused.
    return info === undefined ? undefined : `${info.ino}-${info.size}-${info.mtimeNs}`;
  }

  #legacy({ folder, name }: Place): string {
    return path.join(folder, name + BLOB_SUFFIX);
  }

  /**
   * After a miss in the sharded place: whether the older layout has the key.
   * The check throws no exception for a missing file (an exception costs more
   * than the syscall), so a plain miss stays cheap.
   */
  #hasLegacy(place: Place): boolean {
    return this.#mayHoldLegacy(place) && lstatOrUndefined(this.#legacy(place)) !== undefined;
  }

  /**
   * Whether the folder of `place` may hold older-layout values. A folder is read once per
   * store (its shard folders and, in an old location, its first value file) and, found free of
   * them, never asked again: a miss and a put then cost no look into the older layout. Only
   * store-fs 0.1 wrote that layout; one still writing into the same folder meanwhile costs at
   * worst a value computed and stored again (sharded), never a wrong value.
   */
  #mayHoldLegacy({ folder }: Place): boolean {
    if (this.#legacyFree.has(folder)) return false;
    const found = scanForLegacy(folder);
    // An absent folder is not remembered: it may come.
    if (found === 'free') this.#legacyFree.add(folder);
    return found === 'holds';
  }

  /** Removes the older-layout copy of a key just put, so it cannot resurface or take space. */
  #removeLegacy(place: Place): void {
    if (!this.#mayHoldLegacy(place)) return;
    const legacy = this.#legacy(place);
    if (lstatOrUndefined(legacy)?.isFile()) removeQuietlySync(legacy);
  }

  /**
   * Makes `folder` (under the root) exist, every folder on the way a real one
   * (never a symlink, which could lead a write outside the root). Checked
   * once per folder per store, so a put into a known folder costs nothing
   * here; `again` rechecks after the folder went away (removePrefix, another
   * process).
   */
  #ensureFolder(folder: string, again = false): void {
    if (!again && this.#realFolders.has(folder)) return;
    fs.mkdirSync(this.root, { recursive: true });
    let current = this.root;
    for (const name of path.relative(this.root, folder).split(path.sep)) {
      current = path.join(current, name);
      if (!again && this.#realFolders.has(current)) continue;
      let info = fs.lstatSync(current, { throwIfNoEntry: false });
      if (info === undefined) {
        try {
          fs.mkdirSync(current);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        info = fs.lstatSync(current); // made by us or by another writer just now: still checked
      }
      if (!info.isDirectory()) {
        const what = info.isSymbolicLink() ? 'a symbolic link' : 'not a folder';
        throw codedError(Error, 'LARDER_UNSAFE_PATH', `${current} is ${what}; a folder store writes only into real folders under its root (${this.root}), never through a symlink`);
      }
      this.#realFolders.add(current);
    }
  }

  /** The folder of a key prefix when it and every folder on the way are real folders (the root may be a symlink). */
  async #realFolderOf(parts: readonly string[]): Promise<string | undefined> {
    if (!(await stat(this.root).catch(absentAs(undefined)))?.isDirectory()) return undefined;
    let current = this.root;
    for (const name of parts) {
      current = path.join(current, name);
      if (!(await lstat(current).catch(absentAs(undefined)))?.isDirectory()) return undefined;
    }
    return current;
  }

  /** Whether `folder` (the root or under it) and every folder on the way are real folders (the root may be a symlink); synchronous, for {@link deleteMany}. */
  #realFolderSync(folder: string): boolean {
    let current = this.root;
    if (!(lstatOrUndefined(current, true)?.isDirectory() ?? false)) return false;
    for (const name of path.relative(this.root, folder).split(path.sep).filter(Boolean)) {
      current = path.join(current, name);
      if (!(lstatOrUndefined(current)?.isDirectory() ?? false)) return false;
    }
    return true;
  }

  /**
   * Every value file under the prefix folder, both layouts, streamed folder
   * by folder: only folder paths wait in `pending`, never the files. Descends
   * only into real folders (a Dirent's type is the entry's own: a symlink to
   * a folder is not a directory) named like key segments or shards.
   */
  async *#walk(parts: readonly string[], options: WalkOptions): AsyncGenerator<Found> {
    const start = await this.#realFolderOf(parts);
    if (start === undefined) return;
    const pending: { folder: string; keyPrefix: string; shard?: string }[] = [{ folder: start, keyPrefix: parts.length === 0 ? '' : `${parts.join('/')}/` }];
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      const { folder, keyPrefix, shard } = next;
      options.folders?.push(folder);
      let dir: fs.Dir;
      try {
        dir = await opendir(folder);
      } catch (error) {
        if (isAbsent(error)) continue; // removed meanwhile
        throw error;
      }
      let batch: { key: string; file: string; legacyName?: string }[] = [];
      for await (const entry of dir) {
        const file = path.join(folder, entry.name);
        if (entry.isDirectory()) {
          if (shard !== undefined) continue;
          if (SHARD_FOLDER.test(entry.name)) pending.push({ folder: file, keyPrefix, shard: entry.name.slice(1) });
          else if (isSegment(entry.name)) pending.push({ folder: file, keyPrefix: `${keyPrefix}${entry.name}/` });
        } else if (entry.isFile() && entry.name.endsWith(TEMP_SUFFIX)) {
          await sweepTemp(file, options);
        } else if (options.onSideFile !== undefined && entry.isFile() && isSideFileOf(entry.name, shard)) {
          await options.onSideFile(file);
        } else if (entry.isFile() && entry.name.endsWith(BLOB_SUFFIX)) {
          const name = entry.name.slice(0, -BLOB_SUFFIX.length);
          // A file in the wrong shard is not where get looks: not a value of this store.
          if (!isSegment(name) || (shard !== undefined && shardOf(name) !== shard)) continue;
          batch.push({ key: keyPrefix + name, file, ...(shard === undefined && { legacyName: name }) });
          if (batch.length >= STAT_BATCH) {
            yield* statAll(batch, folder);
            batch = [];
          }
        }
      }
      yield* statAll(batch, folder);
    }
  }
}

/**
 * Whether `folder` holds older-layout values: 'holds' at the first file or symlink named like
 * a value (or when the folder cannot be read: then each key is looked for itself), 'free' when
 * it holds none, 'absent' when there is no folder.
 */
function scanForLegacy(folder: string): 'holds' | 'free' | 'absent' {
  let dir: fs.Dir;
  try {
    dir = fs.opendirSync(folder);
  } catch (error) {
    return isAbsent(error) ? 'absent' : 'holds';
  }
  try {
    for (let entry = dir.readSync(); entry !== null; entry = dir.readSync()) {
      if (!entry.isDirectory() && entry.name.endsWith(BLOB_SUFFIX)) return 'holds';
    }
    return 'free';
  } catch {
    return 'holds';
  } finally {
    dir.closeSync();
  }
}

/** Whether `name` is a side file of a value that belongs in this folder (`shard` undefined: the older, unsharded layout). */
function isSideFileOf(name: string, shard: string | undefined): boolean {
  const valueName = SIDE_FILE.exec(name)?.[1];
  return valueName !== undefined && isSegment(valueName) && (shard === undefined || shardOf(valueName) === shard);
}

/** Stats a batch at once (lstat: never through a symlink); a file gone meanwhile is skipped. */
async function* statAll(batch: readonly { key: string; file: string; legacyName?: string }[], folder: string): AsyncGenerator<Found> {
  const found = await Promise.all(batch.map(async ({ key, file, legacyName }) => {
    const info = await lstat(file).catch(absentAs(undefined));
    if (info === undefined || !info.isFile()) return undefined;
    const shadowed = legacyName !== undefined && lstatOrUndefined(path.join(folder, `@${shardOf(legacyName)}`, legacyName + BLOB_SUFFIX)) !== undefined;
    return { key, file, shadowed, info };
  }));
  for (const one of found) if (one !== undefined) yield one;
}

async function sweepTemp(file: string, { staleBefore, onSwept }: WalkOptions): Promise<void> {
  const info = await lstat(file).catch(absentAs(undefined));
  if (info !== undefined && info.mtimeMs < staleBefore && (await removeQuietly(file))) onSwept?.();
}

/** A path that is not there: missing, or a path through a file (ENOTDIR), or a folder where a value file would be (EISDIR). */
function isAbsent(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

function absentAs<T>(value: T): (error: unknown) => T {
  return (error) => {
    if (isAbsent(error)) return value;
    throw error;
  };
}

/** lstat (or stat: `follow`) without an exception for a missing path (throwIfNoEntry: false is checked natively). */
function lstatOrUndefined(file: string, follow = false): fs.Stats | undefined {
  try {
    return (follow ? fs.statSync : fs.lstatSync)(file, { throwIfNoEntry: false });
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw error;
  }
}

/** stat (following a symlink, as a read does) with ns times, for a regular file only. */
function fileStatOrUndefined(file: string): fs.BigIntStats | undefined {
  try {
    const info = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
    return info?.isFile() ? info : undefined;
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw error;
  }
}

/** Whether `file` is a file (following a symlink, as a read does). */
function isFileSync(file: string): boolean {
  return lstatOrUndefined(file, true)?.isFile() ?? false;
}

/** unlink (never follows the last component); true if a file was removed. */
async function removeQuietly(file: string): Promise<boolean> {
  return unlink(file).then(() => true, absentAs(false));
}

function removeQuietlySync(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (error) {
    if (!isAbsent(error)) throw error;
  }
}
