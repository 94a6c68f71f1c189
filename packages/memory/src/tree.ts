/**
 * The `results/` tree of a location, walked and changed without ever
 * following a symlink: `results/<function folder>/<body id>/<args hash>.larder`.
 *
 * Everything that lists, deletes or writes entries goes through here, because
 * the tree may hold things larder did not put there: a symlink to the user's
 * data (`results/fnA -> ~/data`), a user's own files. So
 * - listing descends only into real folders whose names larder generates, and
 *   lists only regular files of its entry pattern;
 * - deleting removes only regular files whose names larder generates, and
 *   then only empty real folders (rmdir, never a recursive rm);
 * - writing first makes sure every folder on the way is a real folder of the
 *   tree (creating the missing ones), so a store, its temp file and its lease
 *   never land outside the location.
 * The location folder itself may be a symlink the user made: it is the location.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const HEX = '[0-9a-f]{16,128}';
const FUNCTION_FOLDER = /^[A-Za-z0-9._-]{1,255}$/;
const BODY_FOLDER = new RegExp(`^${HEX}$`);
const ENTRY_FILE = new RegExp(`^${HEX}\\.larder$`);
/** An entry, its lease, a lease set aside by a takeover, or store-fs's temp file of an entry. */
const GENERATED_FILE = new RegExp(`^(${HEX}\\.larder(\\.lease(\\.[0-9a-f]+\\.stale)?)?|\\.${HEX}\\.larder\\.\\d+\\.[0-9a-f]+\\.larder-tmp)$`);
const TEMP_FILE = /\.larder-tmp$/;
/** A temp file older than this was left by a writer that died (store-fs's rule). */
const STALE_TEMP_MS = 15 * 60 * 1000;

export const isFunctionFolderName = (name: string): boolean => FUNCTION_FOLDER.test(name) && name !== '.' && name !== '..';
export const isBodyFolderName = (name: string): boolean => BODY_FOLDER.test(name);
/** Whether larder generates files of this name inside a body folder. */
export const isGeneratedEntryName = (name: string): boolean => GENERATED_FILE.test(name);

/** One entry file found in the tree. */
export interface EntryFile { key: string; bytes: number; mtimeMs: number }

/** Whether `path` is a real folder (not a symlink to one). */
async function isRealFolder(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The real folders of the tree under `results` (or only `results/<folder>`), deepest last, with their depth (1 function, 2 body). */
async function realFolders(results: string, folder?: string): Promise<{ path: string; rel: string; depth: number }[]> {
  if (!(await isRealFolder(results))) return [];
  const start = folder === undefined ? { path: results, rel: '', depth: 0 } : { path: join(results, folder), rel: `${folder}/`, depth: 1 };
  if (folder !== undefined && !(isFunctionFolderName(folder) && (await isRealFolder(start.path)))) return [];
  const found: { path: string; rel: string; depth: number }[] = [start];
  for (let i = 0; i < found.length; i++) {
    const { path, rel, depth } = found[i]!;
    if (depth >= 2) continue;
    const names = await readdir(path, { withFileTypes: true }).catch(() => []);
    for (const entry of names) {
      // A Dirent's type is the entry's own (d_type): a symlink to a folder is not a directory here.
      if (!entry.isDirectory()) continue;
      if (depth === 0 ? !isFunctionFolderName(entry.name) : !isBodyFolderName(entry.name)) continue;
      found.push({ path: join(path, entry.name), rel: `${rel}${entry.name}/`, depth: depth + 1 });
    }
  }
  return found;
}

/** Every entry file under `results` (or only the function folder `folder`), sorted by key. */
export async function listEntryFiles(results: string, folder?: string): Promise<EntryFile[]> {
  const out: EntryFile[] = [];
  for (const { path, rel, depth } of await realFolders(results, folder)) {
    if (depth !== 2) continue;
    const names = await readdir(path, { withFileTypes: true }).catch(() => []);
    for (const entry of names) {
      if (!entry.isFile() || !ENTRY_FILE.test(entry.name)) continue;
      const info = await lstat(join(path, entry.name)).catch(() => undefined);
      if (info?.isFile()) out.push({ key: rel + entry.name.slice(0, -'.larder'.length), bytes: info.size, mtimeMs: info.mtimeMs });
    }
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Removes what larder generated under `results` (or only under `results/<folder>`): entry
 * files, leases, temp files older than 15 minutes (newer ones belong to a writer at work),
 * then the folders left empty. Anything else (a symlink, a user's file) stays, and so does
 * the folder holding it.
 */
export async function removeTree(results: string, folder?: string): Promise<void> {
  const folders = await realFolders(results, folder);
  const staleBefore = Date.now() - STALE_TEMP_MS;
  for (const { path, depth } of folders) {
    if (depth !== 2) continue;
    const names = await readdir(path, { withFileTypes: true }).catch(() => []);
    for (const entry of names) {
      if (!entry.isFile() || !GENERATED_FILE.test(entry.name)) continue;
      const file = join(path, entry.name);
      if (TEMP_FILE.test(entry.name) && ((await lstat(file).catch(() => undefined))?.mtimeMs ?? 0) >= staleBefore) continue;
      await unlink(file).catch(() => undefined);
    }
  }
  // Deepest first; rmdir removes only an empty real folder (it fails on a symlink or a non-empty one).
  for (const { path, depth } of folders.reverse()) {
    if (depth === 0 && folder !== undefined) continue;
    await rmdir(path).catch(() => undefined);
  }
}

/** The three parts of an entry key, or undefined when it is not one larder generates. */
function keyParts(key: string): [string, string, string] | undefined {
  const parts = key.split('/');
  if (parts.length !== 3 || !isFunctionFolderName(parts[0]!) || !isBodyFolderName(parts[1]!) || !ENTRY_FILE.test(`${parts[2]}.larder`)) return undefined;
  return parts as [string, string, string];
}

/** Deletes the entry files of `keys`, each only when the folders on its way are real folders and it is a regular file. */
export async function removeEntryFiles(results: string, keys: readonly string[]): Promise<void> {
  const checked = new Map<string, Promise<boolean>>();
  const real = (path: string) => {
    let known = checked.get(path);
    if (!known) checked.set(path, (known = isRealFolder(path)));
    return known;
  };
  const removeOne = async (key: string) => {
    const parts = keyParts(key);
    if (!parts) return;
    const [fn, body, args] = parts;
    if (!(await real(results)) || !(await real(join(results, fn))) || !(await real(join(results, fn, body)))) return;
    const file = join(results, fn, body, `${args}.larder`);
    if ((await lstat(file).catch(() => undefined))?.isFile()) await unlink(file).catch(() => undefined);
  };
  for (let i = 0; i < keys.length; i += 64) await Promise.all(keys.slice(i, i + 64).map(removeOne));
}

/**
 * Makes `results/<folder>/<body>` exist as real folders, creating what is missing; throws when
 * one of them is a symlink or not a folder, so a write can never go through it out of the location.
 */
export function ensureEntryFolder(results: string, folder: string, body: string): void {
  const chain = [results, join(results, folder), join(results, folder, body)];
  for (const [i, path] of chain.entries()) {
    let info;
    try {
      info = lstatSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      try {
        mkdirSync(path, { recursive: i === 0 });
      } catch (mkdirError) {
        if ((mkdirError as NodeJS.ErrnoException).code !== 'EEXIST') throw mkdirError;
      }
      info = lstatSync(path); // made by us or by another writer just now: still checked
    }
    if (!info.isDirectory()) {
      const what = info.isSymbolicLink() ? 'a symbolic link' : 'not a folder';
      throw Object.assign(new Error(`${path} is ${what}; larder writes only into real folders of its location, never through a symlink`), { code: info.isSymbolicLink() ? 'ELARDERPATH' : 'ENOTDIR' });
    }
  }
}

/** Removes temp files older than 15 minutes (left by writers that died) from the real folders of the tree. */
export async function sweepStaleTemps(results: string): Promise<void> {
  const staleBefore = Date.now() - STALE_TEMP_MS;
  for (const { path, depth } of await realFolders(results)) {
    if (depth !== 2) continue;
    for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isFile() || !TEMP_FILE.test(entry.name) || !GENERATED_FILE.test(entry.name)) continue;
      const file = join(path, entry.name);
      if (((await lstat(file).catch(() => undefined))?.mtimeMs ?? Infinity) < staleBefore) await unlink(file).catch(() => undefined);
    }
  }
}
