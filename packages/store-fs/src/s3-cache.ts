/**
 * The local read-through cache of S3 stores: whole copies of objects in a
 * folder, each named by the object (a hash of endpoint, bucket and key) and
 * its ETag. The store asks S3 with `If-None-Match: <etag>` before using a
 * copy, so a replaced object is never served stale: a 304 means the copy is
 * the object. Mapped loads map these files.
 *
 * Bounded: past `cacheBytes`, the least recently used copies are removed
 * (Map order is the use order). Several processes may share the folder:
 * each bounds what it wrote or used, and a copy another process removed is
 * fetched again (the store retries without the condition). Removing a file
 * that is mapped is safe: the mapping keeps the pages.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { codedError } from './errors.js';
import { writeAll } from './io.js';

/** A copy in the cache. */
export interface CachedCopy {
  etag: string;
  file: string;
  bytes: number;
}

const COPY_NAME = /^([0-9a-f]{32})\.([0-9a-f]{2,})\.larder$/;
const TEMP_MARK = '.larder-tmp-';
/** A temp file this old is a crashed writer's: the first lookup removes it. */
const STALE_TEMP_MS = 15 * 60 * 1000;

/** The cache's name for an object: the same object from any store on any process gets the same name. */
export function cacheIdOf(endpoint: string | undefined, bucket: string, objectKey: string): string {
  return createHash('sha256').update(`${endpoint ?? 'aws'}\0${bucket}\0${objectKey}`).digest('hex').slice(0, 32);
}

export class ReadThroughCache {
  readonly dir: string;
  readonly bytesLimit: number;
  /** id → copy, least recently used first. */
  readonly #copies = new Map<string, CachedCopy>();
  #bytes = 0;
  #ready: Promise<void> | undefined;

  constructor(dir: string, bytesLimit: number) {
    this.dir = dir;
    this.bytesLimit = bytesLimit;
  }

  /** The copy of `id`, if there is one (it may be of an older ETag: the caller asks S3). */
  async lookup(id: string): Promise<CachedCopy | undefined> {
    await this.#open();
    const copy = this.#copies.get(id);
    if (copy !== undefined) {
      this.#copies.delete(id);
      this.#copies.set(id, copy);
    }
    return copy;
  }

  /** Keeps `bytes` as the copy of `id` at `etag`, replacing an older copy. */
  async store(id: string, etag: string, bytes: Uint8Array): Promise<CachedCopy> {
    return this.fill(id, etag, async (handle) => writeAll(handle, bytes, 0));
  }

  /** Keeps what `write` writes into a fresh file as the copy of `id` at `etag` (atomically: a temp file renamed). */
  async fill(id: string, etag: string, write: (handle: FileHandle) => Promise<void>): Promise<CachedCopy> {
    await this.#open();
    const file = path.join(this.dir, `${id}.${Buffer.from(etag).toString('hex')}.larder`);
    const temp = `${file}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
    let handle: FileHandle;
    try {
      handle = await open(temp, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The folder was removed under us (a tmp cleaner, a user): made and checked again.
      this.#ready = undefined;
      await this.#open();
      handle = await open(temp, 'wx', 0o600);
    }
    try {
      await write(handle);
    } catch (error) {
      await handle.close();
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    const { size } = await handle.stat();
    await handle.close();
    await rename(temp, file);
    await this.forget(id, file);
    this.#evictFor(size);
    const copy = { etag, file, bytes: size };
    this.#copies.set(id, copy);
    this.#bytes += size;
    return copy;
  }

  /** Drops the copy of `id` (its file too), unless it is the file `keep`. */
  async forget(id: string, keep?: string): Promise<void> {
    const copy = this.#copies.get(id);
    if (copy === undefined) return;
    this.#copies.delete(id);
    this.#bytes -= copy.bytes;
    if (copy.file !== keep) await unlink(copy.file).catch(() => undefined);
  }

  /** Removes least recently used copies until `incoming` more bytes fit the limit. */
  #evictFor(incoming: number): void {
    for (const [id, copy] of this.#copies) {
      if (this.#bytes + incoming <= this.bytesLimit) break;
      this.#copies.delete(id);
      this.#bytes -= copy.bytes;
      fs.rmSync(copy.file, { force: true }); // now, so the folder is within the bound when the put returns
    }
  }

  /** Makes the folder (mode 0700, checked to be ours), and indexes the copies earlier processes left, oldest first. */
  #open(): Promise<void> {
    this.#ready ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const info = fs.lstatSync(this.dir);
      const uid = process.getuid?.();
      if (!info.isDirectory() || (uid !== undefined && info.uid !== uid)) {
        throw codedError(Error, 'LARDER_UNSAFE_PATH', `the S3 cache folder ${this.dir} is ${info.isDirectory() ? 'owned by another user' : 'not a folder (or a symlink)'}; set s3.cacheDir to a folder of your own`);
      }
      // A copy is served as the object whose ETag its name carries: anyone who can add a file here
      // can answer for any object, so others must not be able to write in it (as ssh refuses keys).
      if (uid !== undefined && (info.mode & 0o022) !== 0) {
        throw codedError(Error, 'LARDER_UNSAFE_PATH', `the S3 cache folder ${this.dir} is writable by ${info.mode & 0o002 ? 'every user' : 'its group'} (mode ${(info.mode & 0o777).toString(8)}), who could put files in it that would be read as S3 objects; chmod go-w it, or set s3.cacheDir to a folder of your own`);
      }
      const found: (CachedCopy & { id: string; mtimeMs: number })[] = [];
      for (const name of await readdir(this.dir)) {
        const file = path.join(this.dir, name);
        if (name.includes(TEMP_MARK)) {
          const temp = await stat(file).catch(() => undefined);
          if (temp !== undefined && temp.mtimeMs < Date.now() - STALE_TEMP_MS) await unlink(file).catch(() => undefined);
          continue;
        }
        const match = COPY_NAME.exec(name);
        const copy = match && (await stat(file).catch(() => undefined));
        if (!match || !copy?.isFile()) continue;
        found.push({ id: match[1]!, etag: Buffer.from(match[2]!, 'hex').toString(), file, bytes: copy.size, mtimeMs: copy.mtimeMs });
      }
      found.sort((a, b) => a.mtimeMs - b.mtimeMs);
      for (const { id, etag, file, bytes } of found) {
        const older = this.#copies.get(id);
        if (older !== undefined) {
          this.#bytes -= older.bytes;
          this.#copies.delete(id);
          await unlink(older.file).catch(() => undefined);
        }
        this.#copies.set(id, { etag, file, bytes });
        this.#bytes += bytes;
      }
      this.#evictFor(0);
    })();
    return this.#ready;
  }
}
