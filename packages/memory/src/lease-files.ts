/**
 * The local `LeaseStore`: lease files next to the entries, for every thread
 * and process that shares a folder on one host (and hosts sharing a folder,
 * through the renewal time).
 *
 * The lease of entry key `k` is a file beside the entry's file: the entry
 * store's path for `k` plus `.lease` (the store lists only `.larder` files, so
 * it is never mistaken for a result), created with `wx` (O_CREAT | O_EXCL): of
 * several callers, exactly one creates it. It holds the holder's host, pid,
 * thread and token; its mtime is the last renewal.
 *
 * A lease is stale, and may be taken over, when
 * - its holder runs on this host and its pid is gone (kill -9, crash): seen at once;
 * - its file holds no readable holder record 2 s after it was made (debris);
 * - or it was not renewed for `ttlMs` (a dead worker thread in a live
 *   process, another host, or a holder whose event loop is blocked by a long
 *   synchronous function: the one case where a call may be computed twice).
 *
 * Taking over renames the stale file aside and checks it still holds the
 * token judged stale; if a fresh lease was caught instead, it is linked back
 * (link fails rather than replacing a newer one).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, futimesSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { badOption } from './errors.js';
import { checkLeaseKey, type LeaseAttempt, type LeaseStore } from './lease.js';

/** Appended to an entry's file name to name its lease. */
const LEASE_SUFFIX = '.lease';

interface Holder { host: string; pid: number; thread: number; token: string }

const HOST = hostname();
/** The most bytes a holder record may have (one is ~100). */
const MAX_RECORD_BYTES = 4096;
/** How long a lease file without a readable holder record is given before it counts as debris. */
const UNREADABLE_GRACE_MS = 2000;

/** Never blocks (a FIFO put in a lease file's place would wait for a writer forever) and never follows a symlink. */
const READ_LEASE = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0);

/**
 * The holder the lease file at `path` names, read through a descriptor opened without following
 * a symlink or blocking on a FIFO. With `touchFor`, a lease that token holds is also marked
 * renewed (its times set to now) through that same descriptor: the file checked is the file
 * touched, never one a symlink swapped in meanwhile points to (utimes by path followed it).
 * Undefined when missing, or half written by a holder killed between create and write.
 */
function readHolder(path: string, touchFor?: string): { holder?: Holder; touched: boolean } {
  let fd: number;
  try {
    fd = openSync(path, READ_LEASE);
  } catch {
    return { touched: false };
  }
  try {
    // A record is ~100 bytes: anything larger is not one, and is never read (a planted sparse file of
    // gigabytes was read whole at every look, seconds each, while the waiter kept looking).
    const info = fstatSync(fd);
    const parsed = JSON.parse(info.isFile() && info.size <= MAX_RECORD_BYTES ? readFileSync(fd, 'utf8') : '') as Partial<Holder>;
    if (typeof parsed.token !== 'string' || typeof parsed.pid !== 'number' || typeof parsed.host !== 'string') return { touched: false };
    const holder = parsed as Holder;
    if (touchFor === undefined || holder.token !== touchFor) return { holder, touched: false };
    const now = new Date();
    futimesSync(fd, now, now);
    return { holder, touched: true };
  } catch {
    return { touched: false }; // not a record (judged by age alone), or the touch failed
  } finally {
    closeSync(fd);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

/**
 * Lease files under `root`, beside the entry files whose paths `entryPath` gives (the entry
 * store's `pathOf`); by default `<root>/<key>.larder`, the unsharded layout.
 */
export class FileLeaseStore implements LeaseStore {
  readonly description: string;
  private readonly entryPath: (key: string) => string;
  /** Folders under the root checked to be real folders (never a symlink a lease could go through). */
  private readonly realFolders = new Set<string>();

  constructor(readonly root: string, entryPath?: (key: string) => string) {
    // '' would put lease files in the current folder; a non-string would make every acquire
    // 'unavailable', so calls would silently compute without a lease.
    if (typeof root !== 'string' || root.trim() === '' || root.includes('\0')) badOption('new FileLeaseStore(root): root', 'a non-empty folder path string', root);
    if (entryPath !== undefined && typeof entryPath !== 'function') badOption('new FileLeaseStore(root, entryPath): entryPath', 'a function of a key giving its entry file path, or undefined', entryPath);
    this.description = `lease files under ${root}`;
    this.entryPath = entryPath ?? ((key) => join(this.root, ...checkLeaseKey(key)) + '.larder');
  }

  /** The lease file of `key`. */
  private pathOf(key: string): string {
    checkLeaseKey(key);
    return this.entryPath(key) + LEASE_SUFFIX;
  }

  /**
   * Makes the folder of a lease file exist under the root, every folder on the way a real
   * one: a symlink planted in the tree must not lead a lease file outside the location.
   */
  private ensureFolder(folder: string): void {
    if (this.realFolders.has(folder)) return;
    const rel = relative(this.root, folder);
    if (rel.startsWith('..')) throw Object.assign(new Error(`${folder} is outside ${this.root}`), { code: 'LARDER_UNSAFE_PATH' });
    mkdirSync(this.root, { recursive: true });
    let current = this.root;
    for (const name of rel === '' ? [] : rel.split(sep)) {
      current = join(current, name);
      let info = lstatSync(current, { throwIfNoEntry: false });
      if (info === undefined) {
        try { mkdirSync(current); } catch (error) { if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; }
        info = lstatSync(current); // made by us or by another caller just now: still checked
      }
      if (!info.isDirectory()) throw Object.assign(new Error(`${current} is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}; lease files go only into real folders of ${this.root}`), { code: 'LARDER_UNSAFE_PATH' });
    }
    this.realFolders.add(folder);
  }

  async acquire(key: string, _ttlMs: number): Promise<LeaseAttempt> {
    const path = this.pathOf(key);
    const token = randomBytes(8).toString('hex');
    const body = JSON.stringify({ host: HOST, pid: process.pid, thread: process.getBuiltinModule('node:worker_threads').threadId, token } satisfies Holder);
    try {
      this.ensureFolder(dirname(path));
    } catch (error) {
      return { kind: 'unavailable', error }; // a symlink in the way, read-only, disk full: compute without a lease
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return { kind: 'busy' };
        if (code === 'ENOENT' && attempt === 0) {
          // The folder was removed meanwhile (clear(), reduceSize()): make it again, checked.
          this.realFolders.delete(dirname(path));
          try { this.ensureFolder(dirname(path)); } catch (mkdirError) { return { kind: 'unavailable', error: mkdirError }; }
          continue;
        }
        return { kind: 'unavailable', error }; // read-only, disk full, permissions: compute without a lease
      }
      try {
        writeSync(fd, body);
      } catch (error) {
        closeSync(fd);
        try { unlinkSync(path); } catch { /* gone already */ }
        return { kind: 'unavailable', error };
      }
      closeSync(fd);
      return { kind: 'held', token };
    }
    return { kind: 'unavailable', error: new Error(`cannot create ${path}`) };
  }

  async renew(key: string, token: string, _ttlMs: number): Promise<boolean> {
    // False when the lease was taken over or removed meanwhile (clear(), reduceSize()).
    return readHolder(this.pathOf(key), token).touched;
  }

  async release(key: string, token: string): Promise<void> {
    const path = this.pathOf(key);
    if (readHolder(path).holder?.token !== token) return; // taken over meanwhile: not ours to remove
    try {
      unlinkSync(path);
    } catch {
      // Already gone (a clear() removed the folder): the goal is reached.
    }
  }

  async takeOver(key: string, ttlMs: number): Promise<boolean> {
    const path = this.pathOf(key);
    if (this.state(path, ttlMs) !== 'stale') return false;
    const seen = readHolder(path).holder?.token;
    const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
    try {
      renameSync(path, aside);
    } catch {
      return false; // someone else broke it first
    }
    const caught = readHolder(aside).holder?.token;
    let broke = true;
    if (caught !== seen) {
      // Between our look and our rename another caller replaced the stale lease with a live one: put it back.
      broke = false;
      try { linkSync(aside, path); } catch { /* a newer lease exists already; keep it */ }
    }
    try { unlinkSync(aside); } catch { /* already gone */ }
    return broke;
  }

  /** Whether the lease file at `path` is missing, held by a live, recently renewed holder, or stale. */
  private state(path: string, ttlMs: number, now = Date.now()): 'free' | 'live' | 'stale' {
    let mtimeMs: number;
    try {
      mtimeMs = lstatSync(path).mtimeMs; // a symlink in its place is judged as itself, not by what it points to
    } catch {
      return 'free';
    }
    const { holder } = readHolder(path);
    if (holder && holder.host === HOST && !pidAlive(holder.pid)) return 'stale';
    // A holder writes its record right after creating the file; one still unreadable after a moment
    // is debris (a holder killed in between, a foreign or damaged file), not a live lease.
    if (!holder && now - mtimeMs > UNREADABLE_GRACE_MS) return 'stale';
    if (now - mtimeMs > ttlMs) return 'stale';
    return 'live';
  }
}
