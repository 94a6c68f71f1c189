/**
 * Atomic file replacement: write a temporary file in the target's folder (or
 * in a `tempFolder` the caller names on the same file system), then rename it
 * over the target. rename() within one file system is atomic, so a reader
 * (another process, a worker) sees the old complete file or the new complete
 * one, never a partial write; a crash leaves at most a temp file, which
 * FolderStore's list() ignores and sweeps once it is stale. Put-if-absent
 * places the temp file with link() instead of rename(): link never replaces
 * an existing target. On Linux with the addon, a synchronous write uses a
 * temp file with no name (O_TMPFILE) that link() names: cheaper, and a crash
 * leaves nothing (see writeUnnamedSync).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { link, lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { nativeAddon } from './native.js';

/** Every temporary file ends with this; nothing else store-fs writes does. */
export const TEMP_SUFFIX = '.larder-tmp';

/**
 * Unique among writers: random per module instance (so per worker thread, which shares the
 * pid), then a counter. Drawing random bytes for every temp file cost more than the rename
 * it precedes; the open is exclusive (`wx`) anyway, so a clash would fail, never overwrite.
 */
const TEMP_PREFIX = `${process.pid}.${randomBytes(4).toString('hex')}`;
let tempCounter = 0;

/** `.<name>.<pid>.<hex>.larder-tmp` in `folder` (the target's own by default): same file system, so rename stays atomic. */
function tempPathFor(target: string, folder = path.dirname(target)): string {
  tempCounter = (tempCounter + 1) % 0x100000000;
  return path.join(folder, `.${path.basename(target)}.${TEMP_PREFIX}${tempCounter.toString(16).padStart(8, '0')}${TEMP_SUFFIX}`);
}

/** A writer gets the open file and writes at explicit positions. */
export type SyncWriter = (fd: number) => void;
export type AsyncWriter = (handle: fs.promises.FileHandle) => Promise<void>;

export interface WriteAtomicOptions {
  /** fsync the temp file before the rename. */
  fsync: boolean;
  /**
   * How to make the target's folder when it is missing: `true` creates it
   * recursively, a function does it its own way (a store that checks every
   * folder on the way is a real one). Only a missing folder costs this: the
   * open is tried first and retried once after it, so the common case stays
   * one open, and the caller's bytes (already encoded, maybe compressed) are
   * written once either way.
   */
  makeDirs: boolean | (() => void);
  /**
   * Put-if-absent: place the file only if the target does not exist yet.
   * The temp file is hard-linked to the target (link() fails with EEXIST when
   * it exists: of many concurrent writers exactly one wins, and a reader
   * still sees only a whole file). Where hard links are unsupported, an
   * existence check then rename (a narrow race: documented in the README).
   * @default false
   */
  exclusive?: boolean;
  /**
   * Conditional replace: asked just before the rename (after the bytes are
   * written); false places nothing (the temp file is removed) and the write
   * reports false. What it checks can still change between its answer and
   * the rename: a window of one system call, documented by its callers.
   * @default always place
   */
  placeIf?: () => boolean;
  /**
   * The folder to make the temp file in: one on the target's file system (an
   * ancestor of the target's folder), so the rename stays atomic. Creating a
   * file costs much less in one small, busy folder than in one of many large
   * ones (FolderStore's 256 shard folders: measured in bench/scale.ts, the
   * open of the temp file was most of a small put); the rename then moves the
   * whole file into place. When the target's folder is missing, `makeDirs`
   * makes it and the rename is tried once more.
   * @default the target's folder
   */
  tempFolder?: string;
}

/** Writes `target` through a temp file; false when `exclusive` and the target already existed, or when `placeIf` said no (nothing written). */
export function writeAtomicSync(target: string, write: SyncWriter, options: WriteAtomicOptions): boolean {
  const { fsync, makeDirs, exclusive = false, placeIf, tempFolder } = options;
  if (placeIf === undefined) {
    const placed = writeUnnamedSync(target, write, options);
    if (placed !== undefined) return placed;
  }
  const temp = tempPathFor(target, tempFolder);
  /** Runs a rename or link into the target's folder; where that folder is missing (removed meanwhile), makes it once and retries. */
  const place = (move: () => void) => {
    try {
      move();
    } catch (error) {
      if (tempFolder === undefined || makeDirs === false || !isMissing(error)) throw error;
      if (makeDirs === true) fs.mkdirSync(path.dirname(target), { recursive: true });
      else makeDirs();
      move();
    }
  };
  let fd: number;
  try {
    fd = fs.openSync(temp, 'wx');
  } catch (error) {
    if (makeDirs === false || !isMissing(error)) throw error;
    if (makeDirs === true) fs.mkdirSync(path.dirname(target), { recursive: true });
    else makeDirs();
    fd = fs.openSync(temp, 'wx');
  }
  let closed = false;
  try {
    write(fd);
    if (fsync) fs.fsyncSync(fd);
    fs.closeSync(fd);
    closed = true;
    if (!exclusive) {
      if (placeIf !== undefined && !placeIf()) {
        fs.rmSync(temp, { force: true });
        return false;
      }
      place(() => fs.renameSync(temp, target));
      return true;
    }
  } catch (error) {
    if (!closed) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw error;
  }
  try {
    place(() => fs.linkSync(temp, target));
    return true;
  } catch (error) {
    if (isExisting(error)) return false;
    if (!linkUnsupported(error)) throw error;
    if (fs.lstatSync(target, { throwIfNoEntry: false }) !== undefined) return false;
    fs.renameSync(temp, target);
    return true;
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/** Async {@link writeAtomicSync}. */
export async function writeAtomic(target: string, write: AsyncWriter, { fsync, makeDirs, exclusive = false, placeIf, tempFolder }: WriteAtomicOptions): Promise<boolean> {
  const temp = tempPathFor(target, tempFolder);
  /** {@link writeAtomicSync}'s `place`, async. */
  const place = async (move: () => Promise<void>) => {
    try {
      await move();
    } catch (error) {
      if (tempFolder === undefined || makeDirs === false || !isMissing(error)) throw error;
      if (makeDirs === true) await mkdir(path.dirname(target), { recursive: true });
      else makeDirs();
      await move();
    }
  };
  let handle: fs.promises.FileHandle;
  try {
    handle = await open(temp, 'wx');
  } catch (error) {
    if (makeDirs === false || !isMissing(error)) throw error;
    if (makeDirs === true) await mkdir(path.dirname(target), { recursive: true });
    else makeDirs();
    handle = await open(temp, 'wx');
  }
  let closed = false;
  try {
    await write(handle);
    if (fsync) await handle.sync();
    await handle.close();
    closed = true;
    if (!exclusive) {
      if (placeIf !== undefined && !placeIf()) {
        await rm(temp, { force: true });
        return false;
      }
      await place(() => rename(temp, target));
      return true;
    }
  } catch (error) {
    if (!closed) await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  try {
    await place(() => link(temp, target));
    return true;
  } catch (error) {
    if (isExisting(error)) return false;
    if (!linkUnsupported(error)) throw error;
    if (await lstat(target).then(() => true, (statError: unknown) => (isMissing(statError) ? false : Promise.reject(statError)))) return false;
    await rename(temp, target);
    return true;
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Whether unnamed temp files work here: unknown until the first try, false after one the system
 * refused (see {@link writeUnnamedSync}). Never in Deno, whose node:fs takes only descriptors it
 * opened itself (a write to the addon's fails with EBADF).
 */
let unnamedWorks: boolean | undefined = 'Deno' in globalThis ? false : undefined;
const { EACCES, EEXIST, ENOENT } = os.constants.errno;
/** What linkUnnamed answers where the system cannot name an unnamed file (ENOENT: no /proc, the folder being there). */
const LINK_REFUSED = new Set(['EPERM', 'ENOENT', 'EXDEV', 'EOPNOTSUPP', 'ENOTSUP', 'ENOSYS', 'EINVAL'].map((code) => os.constants.errno[code as keyof typeof os.constants.errno]));

/**
 * {@link writeAtomicSync} through a temp file with no name (Linux's O_TMPFILE, through the
 * addon): the bytes go into a file that link() then names `target`, whole. One directory
 * insertion where a named temp file costs a create, then a rename that removes and inserts
 * (measured in C on this machine: a small cache miss's syscalls ~35 µs → ~25 µs), and a crash
 * leaves no temp file behind. Undefined where it cannot be used (no addon, a file system or
 * kernel without O_TMPFILE, link refused): the caller then writes through a named temp file,
 * and after a refusal so does every later write. The bytes are then written again: the
 * writers write from memory at explicit positions, so running one twice is harmless.
 */
function writeUnnamedSync(target: string, write: SyncWriter, { fsync, makeDirs, exclusive = false, tempFolder }: WriteAtomicOptions): boolean | undefined {
  const addon = unnamedWorks === false ? undefined : nativeAddon();
  // A build of the addon older than these functions (a local node-gyp build) has none of them.
  if (addon === undefined || typeof addon.openUnnamed !== 'function') return undefined;
  const folder = tempFolder ?? path.dirname(target);
  const fd = addon.openUnnamed(folder);
  if (fd < 0) {
    // A missing folder, no permission...: the named path meets (and reports) the same. Anything else is the system.
    if (fd !== -ENOENT && fd !== -EACCES) unnamedWorks = false;
    return undefined;
  }
  try {
    write(fd);
    if (fsync) fs.fsyncSync(fd);
    let linked = addon.linkUnnamed(fd, target);
    if (linked === -ENOENT && tempFolder !== undefined && typeof makeDirs === 'function') {
      makeDirs(); // the target's folder went away since it was checked (removePrefix, another process)
      linked = addon.linkUnnamed(fd, target);
    }
    if (linked === 0) return (unnamedWorks = true);
    if (linked === -EEXIST) {
      if (exclusive) return false;
      // A replacement: named beside the target, then renamed over it (rename is the atomic replace).
      const temp = tempPathFor(target, folder);
      if (addon.linkUnnamed(fd, temp) === 0) {
        try {
          fs.renameSync(temp, target);
        } catch (error) {
          fs.rmSync(temp, { force: true });
          throw error;
        }
        return (unnamedWorks = true);
      }
    }
    // Refused by the system (no /proc and no CAP_DAC_READ_SEARCH, a file system without hard
    // links...): named temp files from now on. Other failures (no space, no permission) are the
    // named path's to meet and report.
    if (LINK_REFUSED.has(-linked)) unnamedWorks = false;
    return undefined;
  } finally {
    addon.closeUnnamed(fd);
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function isExisting(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EEXIST';
}

/** link() refused by the file system itself (FAT, some network mounts), not by the target. */
function linkUnsupported(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS';
}
