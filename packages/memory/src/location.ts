/**
 * Whether a folder is a larder cache, and marking it as one.
 *
 * larder marks a location when it creates or adopts it: a `CACHEDIR.TAG`
 * (the Cache Directory Tagging Specification, https://bford.info/cachedir/,
 * so backup tools skip it) and `larder-cache.json`, larder's own marker with
 * the layout version. Clearing, pruning and writing need the marker, so a
 * mistyped location (a project folder, a home directory) is never emptied or
 * filled. A folder without the marker is adopted (and marked) only when it is
 * empty or holds nothing but what larder generates: caches written before the
 * marker existed keep working. Read-only calls never mark anything.
 *
 * Marking is safe when many processes start on a new location at once: each
 * writes its own temp file and renames it into place (same content), and a
 * process that finds another's half-made marker (its temp files, the tag
 * without the marker yet) still sees only larder's files, so adopts too.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, stat, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryError } from './errors.js';
import { probeIndex } from './index-probe.js';
import { isBodyFolderName, isFunctionFolderName, isGeneratedEntryName, isShardFolderName } from './tree.js';

/** larder's marker: its presence (with a layout we know) makes a folder a larder cache. */
export const MARKER_FILE = 'larder-cache.json';
/** Version of the layout under `results/` (`<function folder>/<body id>/[@<shard>/]<args hash>.larder`: store-fs's FolderStore reads both). */
export const LAYOUT_VERSION = 1;
export const CACHEDIR_TAG = 'CACHEDIR.TAG';
/** The spec's signature line: a tag file must begin with exactly these 43 bytes. */
export const CACHEDIR_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';
const TAG_TEXT = `${CACHEDIR_SIGNATURE}\n# This file is a cache directory tag created by larder (@larder/memory).\n# For information about cache directory tags, see:\n#\thttps://bford.info/cachedir/\n`;
const MARKER_TEXT = `${JSON.stringify({ larder: '@larder/memory', layout: LAYOUT_VERSION })}\n`;

/** What a location is, as far as larder is concerned. */
export type LocationState =
  | { kind: 'marked' }
  | { kind: 'missing' }
  /** Unmarked, but empty or holding only what larder generates. */
  | { kind: 'adoptable' }
  /** Not larder's: unmarked with other files in it, a file, unreadable, or marked by a newer layout. */
  | { kind: 'refused'; reason: string; cause?: unknown; /** A readable folder holding other files (read-only calls may look into it). */ folder?: true };

const TOP_LEVEL_FILES = /^(index\.sqlite(-wal|-shm|-journal)?|index\.sqlite\.corrupt-\d+|\.(larder-cache\.json|CACHEDIR\.TAG)\.[0-9a-f]+\.tmp)$/;

/** Looks at `location` without changing anything. */
export async function inspectLocation(location: string): Promise<LocationState> {
  let info;
  try {
    info = await stat(location); // the location itself may be a symlink the user made: it is the location
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'refused', reason: `it cannot be read (${code ?? String(error)})`, cause: error };
  }
  if (!info.isDirectory()) return { kind: 'refused', reason: 'it is a file, not a folder' };
  const marker = await readMarker(location);
  if (marker?.kind === 'marked') return (await resultsNotOurs(location)) ?? marker;
  if (marker !== undefined) return marker;
  let foreign;
  try {
    foreign = await foreignContent(location);
  } catch (error) {
    return { kind: 'refused', reason: `it cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, cause: error };
  }
  if (foreign === undefined) return { kind: 'adoptable' };
  // Another process may have marked it meanwhile (it marks before writing anything else).
  return (await readMarker(location)) ?? { kind: 'refused', reason: foreign, folder: true };
}

/**
 * In a marked location, `results` is a folder larder made. Anything else there (a symlink to a
 * folder elsewhere, a file) was put by someone else: the entry store would write and delete
 * through it, outside the location, so the location is refused until it is a folder again.
 */
async function resultsNotOurs(location: string): Promise<LocationState | undefined> {
  const info = await lstat(join(location, 'results')).catch(() => undefined);
  if (info === undefined || info.isDirectory()) return undefined;
  const what = info.isSymbolicLink() ? 'a symlink' : 'not a folder';
  return { kind: 'refused', reason: `its results is ${what}, not the folder larder made (larder never writes or deletes through it)`, folder: true };
}

/** The most bytes a marker may have (larder's has a few dozen). */
const MAX_MARKER_BYTES = 4096;

/**
 * The first `length` bytes of a file, never more read (a planted file may be gigabytes), never
 * blocking (a FIFO swapped in after a check would wait for a writer forever).
 */
async function readHead(path: string, length: number): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const bytes = Buffer.alloc(length);
    const { bytesRead } = await handle.read(bytes, 0, length, 0);
    return bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function readMarker(location: string): Promise<LocationState | undefined> {
  const file = join(location, MARKER_FILE);
  try {
    const info = await lstat(file);
    if (!info.isFile()) return { kind: 'refused', reason: `${MARKER_FILE} in it is not a regular file` };
    // larder's marker is a few dozen bytes; a large file there is not it, and is not read (a planted sparse one was read whole).
    if (info.size > MAX_MARKER_BYTES) return { kind: 'refused', reason: `${MARKER_FILE} in it is not larder's marker` };
    const marker = JSON.parse((await readHead(file, MAX_MARKER_BYTES)).toString('utf8')) as { larder?: unknown; layout?: unknown };
    if (marker.larder !== '@larder/memory' || typeof marker.layout !== 'number') return { kind: 'refused', reason: `${MARKER_FILE} in it is not larder's marker` };
    if (marker.layout > LAYOUT_VERSION) {
      return { kind: 'refused', reason: `it was written by a newer larder (layout ${marker.layout}; this one knows ${LAYOUT_VERSION}): upgrade @larder/memory` };
    }
    return { kind: 'marked' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (error instanceof SyntaxError) return { kind: 'refused', reason: `${MARKER_FILE} in it is not larder's marker` };
    return { kind: 'refused', reason: `its marker cannot be read (${code ?? String(error)})`, cause: error };
  }
}

/** The first thing in `location` larder would not have written, described; undefined when there is none. */
async function foreignContent(location: string): Promise<string | undefined> {
  for (const entry of await readdir(location, { withFileTypes: true })) {
    const { name } = entry;
    if (name === 'results' && entry.isDirectory()) {
      const found = await foreignInResults(join(location, 'results'));
      if (found !== undefined) return `it holds results/${found}, which larder did not write`;
    } else if (name === CACHEDIR_TAG && entry.isFile()) {
      const head = await readHead(join(location, name), CACHEDIR_SIGNATURE.length).then((bytes) => bytes.toString('latin1'), () => '');
      if (head !== CACHEDIR_SIGNATURE) return `it holds a ${CACHEDIR_TAG} that is not a cache directory tag`;
    } else if (TOP_LEVEL_FILES.test(name) && entry.isFile()) {
      if (name === 'index.sqlite' && (await probeIndex(join(location, name), true)) !== 'ours') {
        return 'it holds an index.sqlite that is not larder\'s index';
      }
    } else {
      return `it holds ${name}${entry.isDirectory() ? '/' : ''}, which larder did not write`;
    }
  }
  return undefined;
}

/** The first path under `results` (relative) that does not follow larder's layout; symlinks never do. */
async function foreignInResults(results: string): Promise<string | undefined> {
  const pending: { path: string; rel: string; depth: number }[] = [{ path: results, rel: '', depth: 0 }];
  for (let folder = pending.pop(); folder !== undefined; folder = pending.pop()) {
    let names;
    try {
      names = await readdir(folder.path, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile by a larder clear
      return `${folder.rel} (unreadable)`;
    }
    for (const entry of names) {
      const rel = folder.rel + entry.name;
      // results/<function>/<body>/ holds entry files (the older, unsharded layout) and shard folders of entry files.
      const shard = folder.depth === 2 && entry.isDirectory() && isShardFolderName(entry.name);
      const fits = folder.depth === 0 ? entry.isDirectory() && isFunctionFolderName(entry.name)
        : folder.depth === 1 ? entry.isDirectory() && isBodyFolderName(entry.name)
          : shard || (entry.isFile() && isGeneratedEntryName(entry.name));
      if (!fits) return rel + (entry.isDirectory() ? '/' : entry.isSymbolicLink() ? ' (a symlink)' : '');
      if (folder.depth < 2 || shard) pending.push({ path: join(folder.path, entry.name), rel: `${rel}/`, depth: folder.depth + 1 });
    }
  }
  return undefined;
}

/**
 * Marks `location` as a larder cache (creating it when missing): the tag, then the marker,
 * each written to its own temp file and renamed into place.
 */
export async function markLocation(location: string): Promise<void> {
  await mkdir(location, { recursive: true });
  await placeFile(location, CACHEDIR_TAG, TAG_TEXT);
  await placeFile(location, MARKER_FILE, MARKER_TEXT);
}

async function placeFile(location: string, name: string, text: string): Promise<void> {
  const temp = join(location, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, text, { flag: 'wx' });
    await rename(temp, join(location, name));
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** The error every refusing entry point throws (or warns with) for `location`. */
export function notACacheError(location: string, reason: string, doing: string, cause?: unknown): MemoryError {
  return new MemoryError(
    'LARDER_NOT_A_CACHE',
    `${location} is not a larder cache: ${reason}; larder refused to ${doing}. ` +
      `A cache location is a folder larder created (it holds ${MARKER_FILE} and ${CACHEDIR_TAG}); pass a new or empty folder, or the folder given to new Memory(...) before.`,
    { cause },
  );
}

/**
 * One Memory's view of its location: what it may do there. Once it has seen (or made) the
 * marker it stops looking; until then every question looks again, so a location a user tidied
 * up is accepted on the next try. A folder (LocationGuard, below) and a BlobStore object
 * (store-guard.ts) differ only in how they look and how they mark.
 */
export abstract class Guard {
  private marked = false;
  private forCallsChecked: Promise<MemoryError | undefined> | undefined;

  /** The location, for messages: a folder path or a store's description. */
  abstract readonly location: string;
  /** Looks at the location without changing anything. */
  protected abstract inspect(): Promise<LocationState>;
  /** Marks the location as larder's (creating it when missing). */
  protected abstract mark(): Promise<void>;
  /** The `LARDER_NOT_A_CACHE` error for this location. */
  abstract notACache(reason: string, doing: string, cause?: unknown): MemoryError;

  /** The location's state, changing nothing. */
  async state(): Promise<LocationState> {
    return this.marked ? { kind: 'marked' } : this.inspect();
  }

  /**
   * Before writing or deleting: throws `LARDER_NOT_A_CACHE` unless the location is marked or
   * adoptable (then it is marked now). A missing location is created and marked when `create`,
   * else the answer is false: there is nothing to do.
   */
  async writable(doing: string, create: boolean): Promise<boolean> {
    if (this.marked) return true;
    const state = await this.inspect();
    if (state.kind === 'refused') throw this.notACache(state.reason, doing, state.cause);
    if (state.kind === 'missing' && !create) return false;
    if (state.kind === 'marked') this.marked = true;
    // A location that cannot be marked (read-only, disk full) is still adoptable: the writes themselves will say what fails.
    else await this.mark().then(() => void (this.marked = true), () => undefined);
    return true;
  }

  /** For cached calls, asked once per Memory: undefined when they may store, else why not. */
  forCalls(): Promise<MemoryError | undefined> {
    this.forCallsChecked ??= this.writable('store results in it', true).then(
      () => undefined,
      (error: unknown) => (error instanceof MemoryError ? error : this.notACache(`it cannot be checked (${(error as Error)?.message ?? String(error)})`, 'store results in it', error)),
    );
    return this.forCallsChecked;
  }
}

/** A folder location's guard: the marker files in the folder (see the top of this file). */
export class LocationGuard extends Guard {
  constructor(readonly location: string) {
    super();
  }

  protected inspect(): Promise<LocationState> {
    return inspectLocation(this.location);
  }

  protected mark(): Promise<void> {
    return markLocation(this.location);
  }

  notACache(reason: string, doing: string, cause?: unknown): MemoryError {
    return notACacheError(this.location, reason, doing, cause);
  }
}
