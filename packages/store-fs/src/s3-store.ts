/**
 * S3BlobStore: the blob store on S3-compatible object storage (AWS S3,
 * radosgw, MinIO). The key `a/b` is the object `<prefix>/a/b.larder`; the
 * object's bytes are exactly the file `dump` writes, so a hostile or
 * truncated object is a FormatError like a damaged local file.
 *
 * Requests: an eager get is one GET (no HEAD first); put is one PUT
 * (atomic on S3: a reader sees the old or the new object); putIfAbsent is a
 * PUT with `If-None-Match: *`, which S3 and radosgw refuse with 412 when the
 * key exists, so of concurrent writers exactly one wins; version is a HEAD
 * (the ETag) and replace a PUT with `If-Match: <etag>` (412 when another
 * write came first, so of concurrent replaces of one ETag at most one
 * wins); delete is HEAD +
 * DELETE (S3's DELETE does not say whether there was an object).
 *
 * Reads go through the local read-through cache (s3-cache.ts): with a copy,
 * the GET carries `If-None-Match: <its etag>` and a 304 means the copy is
 * current, so a replaced object is never served stale. A mapped load fetches
 * the object in 8 MiB ranges (each `If-Match` the first range's ETag, so a
 * replace mid-fetch starts it again) into the cache and maps the local file.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { FileHandle } from 'node:fs/promises';
import type { BlobEntry, BlobPutInfo, BlobStore } from './blob-store.js';
import { asFormatError, decodeFileAsync } from './decode-file.js';
import { dumpToBytes, type DumpedBytes } from './dump.js';
import { badOption, codedError, FormatError } from './errors.js';
import { decodeHeader } from './header.js';
import { writeAll } from './io.js';
import { checkKey, checkPrefix, isSegment } from './keys.js';
import { load } from './load.js';
import { resolveLoadOptions, type DumpOptions, type LoadOptions } from './options.js';
import { cacheIdOf, ReadThroughCache, type CachedCopy } from './s3-cache.js';
import { isMissingKey, readBody, statusOf, totalSize } from './s3-responses.js';
import { loadS3Sdk, makeClient, type S3Sdk } from './s3-driver.js';
import { resolveS3, type ResolvedS3, type S3Options } from './s3-settings.js';

/** Every object of the store ends with this, so list and removePrefix pass over anything else under the prefix. */
const OBJECT_SUFFIX = '.larder';
/**
 * A mapped load fetches this much per ranged GET: a request costs ~1000× a
 * local read of the same few bytes, so ranges are large; 4 run at once.
 */
export const RANGE_BYTES = 8 * 1024 * 1024;
const PARALLEL_RANGES = 4;
/** Eager loads keep a copy of objects at least this big in the cache (a warm get is then a 304 and a local read). */
const CACHE_MIN_BYTES = 1024 * 1024;
/** A mapped load starts again this many times when the object keeps being replaced while it is fetched. */
const FETCH_ATTEMPTS = 5;
/** S3 answers 409 to a conditional write while another is in progress on the key: try again after a pause. */
const CONFLICT_RETRIES = 8;
const DELETE_BATCH = 1000;

/** What an S3 put reports: the stored size, the object's ETag, and what `dump` would report. */
export interface S3PutInfo extends BlobPutInfo, Omit<DumpedBytes, 'file'> {
  etag: string;
}

/** Caches shared by the stores of a process, one per folder. */
const caches = new Map<string, ReadThroughCache>();

/** Thrown inside a ranged fetch when the object changed since its first range. */
const REPLACED = Symbol('replaced');
/** What loading a cached copy gives when another process removed the file meanwhile. */
const VANISHED = Symbol('vanished');

/**
 * A blob store in an S3 bucket, under a key prefix. `openStore('s3://bucket/prefix', { s3 })`
 * returns one. The bucket must exist. @aws-sdk/client-s3 is loaded on first use.
 *
 * @example
 * ```ts
 * import { S3BlobStore } from '@larder/store-fs';
 * const store = new S3BlobStore('s3://sweeps/larder', { endpoint: 'http://127.0.0.1:17480' });
 * await store.put('runs/a1b2c3d4e5f60718', { loss: new Float64Array([0.3, 0.2]) });
 * const value = await store.get<{ loss: Float64Array }>('runs/a1b2c3d4e5f60718', { mmap: 'r' });
 * store.close();
 * ```
 */
export class S3BlobStore implements BlobStore {
  readonly description: string;
  readonly bucket: string;
  /** The key prefix, without a trailing '/' ('' for the whole bucket). */
  readonly prefix: string;
  readonly #settings: ResolvedS3;
  readonly #cache: ReadThroughCache;
  #client: Promise<{ sdk: S3Sdk; client: S3Client }> | undefined;
  /** Whether the server compares `If-Match` with the bare ETag (radosgw): learned by the first replace that needs it. */
  #bareIfMatch = false;

  /** `location` is `s3://bucket` or `s3://bucket/prefix`; settings as in {@link S3Options}. */
  constructor(location: string, options?: S3Options) {
    if (typeof location !== 'string') throw codedError(TypeError, 'LARDER_OPTION', `location must be an 's3://bucket/prefix' string, got ${typeof location}`);
    this.#settings = resolveS3(location, options);
    this.bucket = this.#settings.bucket;
    this.prefix = this.#settings.prefix;
    this.description = `s3://${this.bucket}${this.prefix === '' ? '' : `/${this.prefix}`}`;
    const { cacheDir, cacheBytes } = this.#settings;
    let cache = caches.get(cacheDir);
    if (cache === undefined) caches.set(cacheDir, (cache = new ReadThroughCache(cacheDir, cacheBytes)));
    this.#cache = cache;
  }

  async get<T = unknown>(key: string, options?: LoadOptions): Promise<T | undefined> {
    const objectKey = this.#objectKey(checkKey(key));
    const resolved = resolveLoadOptions(options);
    const id = cacheIdOf(this.#settings.endpoint, this.bucket, objectKey);
    if (resolved.mmap) return (await this.#getMapped(objectKey, id, options)) as T | undefined;
    const { sdk, client } = await this.#connect();
    for (let attempt = 0; ; attempt++) {
      // A copy another process removed meanwhile is fetched again, without the condition.
      const copy = attempt === 0 ? await this.#cache.lookup(id) : undefined;
      let response;
      try {
        response = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: objectKey, IfNoneMatch: copy?.etag }));
      } catch (error) {
        if (isMissingKey(error)) return undefined;
        if (statusOf(error) !== 304 || copy === undefined) throw error;
        const value = await this.#loadCopy<T>(id, copy, options, false);
        if (value !== VANISHED) return value;
        continue;
      }
      const size = response.ContentLength ?? 0;
      const bytes = await readBody(response.Body as AsyncIterable<Uint8Array>, size, { shared: resolved.shared, whole: true, url: this.#urlOf(objectKey) });
      let value: T;
      try {
        value = (await decodeFileAsync(bytes, resolved)) as T;
      } catch (error) {
        throw asFormatError(error, this.#urlOf(objectKey));
      }
      if (bytes.length >= CACHE_MIN_BYTES && response.ETag !== undefined) await this.#cache.store(id, response.ETag, bytes);
      else if (copy !== undefined) await this.#cache.forget(id); // the object changed and is now small: the copy is dead weight
      return value;
    }
  }

  async put(key: string, value: unknown, options?: DumpOptions): Promise<S3PutInfo> {
    return (await this.#upload(this.#objectKey(checkKey(key)), value, options, {}))!;
  }

  async putIfAbsent(key: string, value: unknown, options?: DumpOptions): Promise<S3PutInfo | undefined> {
    return this.#upload(this.#objectKey(checkKey(key)), value, options, { IfNoneMatch: '*' });
  }

  /** The object's ETag (a HEAD), or undefined when there is no object. */
  async version(key: string): Promise<string | undefined> {
    const objectKey = this.#objectKey(checkKey(key));
    const { sdk, client } = await this.#connect();
    try {
      return (await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }))).ETag;
    } catch (error) {
      if (isMissingKey(error)) return undefined;
      throw error;
    }
  }

  /**
   * A PUT with `If-Match: <version>`: S3 answers 412 when the ETag differs and 404 when the
   * object is gone (radosgw 412 for both): undefined. S3 takes the ETag quoted, as HEAD gives
   * it (RFC 7232); radosgw (and DigitalOcean Spaces) compare it unquoted and refuse the quoted
   * form with 412 even when it matches. So a 412 is checked with a HEAD: when the object is
   * still at `version`, the server wants the bare ETag, and this store sends that from then on.
   */
  async replace(key: string, value: unknown, version: string, options?: DumpOptions): Promise<S3PutInfo | undefined> {
    const objectKey = this.#objectKey(checkKey(key));
    if (typeof version !== 'string' || version === '') throw badOption('version', 'a version string from version(key)', version);
    const bare = version.replace(/^"(.*)"$/, '$1');
    if (this.#bareIfMatch) return this.#upload(objectKey, value, options, { IfMatch: bare });
    const written = await this.#upload(objectKey, value, options, { IfMatch: version });
    if (written !== undefined || bare === version || (await this.version(key)) !== version) return written;
    this.#bareIfMatch = true;
    return this.#upload(objectKey, value, options, { IfMatch: bare });
  }

  async has(key: string): Promise<boolean> {
    const objectKey = this.#objectKey(checkKey(key));
    const { sdk, client } = await this.#connect();
    try {
      await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return true;
    } catch (error) {
      if (isMissingKey(error)) return false;
      throw error;
    }
  }

  async delete(key: string): Promise<boolean> {
    const objectKey = this.#objectKey(checkKey(key));
    if (!(await this.has(key))) return false;
    const { sdk, client } = await this.#connect();
    await client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    await this.#cache.forget(cacheIdOf(this.#settings.endpoint, this.bucket, objectKey));
    return true;
  }

  /** Streams the values under `prefix` page by page (ListObjectsV2, `listPageSize` keys a request), in key order. */
  async *list(prefix = ''): AsyncIterable<BlobEntry> {
    for await (const page of this.#pages(checkPrefix(prefix))) yield* page;
  }

  /**
   * Removes every value under `prefix` with batched DeleteObjects, a page at
   * a time. Only objects this store lists are removed: keys under the store's
   * prefix ending in `.larder`; other objects in the bucket stay.
   */
  async removePrefix(prefix: string): Promise<number> {
    const parts = checkPrefix(prefix);
    const { sdk, client } = await this.#connect();
    let removed = 0;
    for await (const page of this.#pages(parts)) {
      for (let start = 0; start < page.length; start += DELETE_BATCH) {
        const objects = page.slice(start, start + DELETE_BATCH).map((entry) => ({ Key: this.#objectKey(entry.key.split('/')) }));
        const result = await client.send(new sdk.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: objects, Quiet: true } }));
        const errors = result.Errors ?? [];
        removed += objects.length - errors.length;
        for (const { Key } of objects) await this.#cache.forget(cacheIdOf(this.#settings.endpoint, this.bucket, Key));
        if (errors.length > 0) {
          const [first] = errors;
          throw new Error(`[larder/store-fs] removePrefix(${JSON.stringify(prefix)}) on ${this.description}: ${errors.length} objects were not removed (${first?.Key}: ${first?.Code} ${first?.Message}); ${removed} were`);
        }
      }
    }
    return removed;
  }

  /** Closes the client's connections. The store reconnects if used again. */
  close(): void {
    const client = this.#client;
    this.#client = undefined;
    void client?.then(({ client: open }) => open.destroy(), () => undefined);
  }

  #connect(): Promise<{ sdk: S3Sdk; client: S3Client }> {
    this.#client ??= loadS3Sdk().then((sdk) => ({ sdk, client: makeClient(sdk, this.#settings) }));
    const client = this.#client;
    // A failed load (a missing driver) is said again on the next call, not cached as a rejection forever.
    client.catch(() => {
      if (this.#client === client) this.#client = undefined;
    });
    return client;
  }

  #objectKey(parts: readonly string[]): string {
    return `${this.prefix === '' ? '' : `${this.prefix}/`}${parts.join('/')}${OBJECT_SUFFIX}`;
  }

  #urlOf(objectKey: string): string {
    return `s3://${this.bucket}/${objectKey}`;
  }

  /** One PUT, unconditional or with the given condition; undefined when the condition failed (412; 404 for If-Match on a vanished object). */
  async #upload(objectKey: string, value: unknown, options: DumpOptions | undefined, condition: { IfNoneMatch?: '*'; IfMatch?: string }): Promise<S3PutInfo | undefined> {
    const { file, ...described } = await dumpToBytes(value, options);
    const { sdk, client } = await this.#connect();
    const conditional = condition.IfNoneMatch !== undefined || condition.IfMatch !== undefined;
    let etag: string | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        const request = { Bucket: this.bucket, Key: objectKey, Body: file, ContentLength: file.length, ContentType: 'application/vnd.larder', ...condition };
        etag = (await client.send(new sdk.PutObjectCommand(request))).ETag;
        break;
      } catch (error) {
        if (conditional && statusOf(error) === 412) return undefined;
        if (condition.IfMatch !== undefined && isMissingKey(error)) return undefined;
        if (statusOf(error) !== 409 || attempt >= CONFLICT_RETRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
      }
    }
    const id = cacheIdOf(this.#settings.endpoint, this.bucket, objectKey);
    // Written through: the next load of a large value (a mapped one above all) is a 304 and a local read.
    if (file.length >= CACHE_MIN_BYTES && etag !== undefined) await this.#cache.store(id, etag, file);
    else await this.#cache.forget(id);
    return { ...described, etag: etag ?? '' };
  }

  async #getMapped(objectKey: string, id: string, options: LoadOptions | undefined): Promise<unknown> {
    const { sdk, client } = await this.#connect();
    const url = this.#urlOf(objectKey);
    for (let attempt = 0; attempt < FETCH_ATTEMPTS; attempt++) {
      const copy = await this.#cache.lookup(id);
      let first;
      try {
        first = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: objectKey, Range: `bytes=0-${RANGE_BYTES - 1}`, IfNoneMatch: copy?.etag }));
      } catch (error) {
        if (isMissingKey(error)) return undefined;
        if (statusOf(error) !== 304 || copy === undefined) throw error;
        const value = await this.#loadCopy(id, copy, options, false);
        if (value !== VANISHED) return value;
        continue;
      }
      const etag = first.ETag;
      const total = totalSize(first.ContentRange, first.ContentLength);
      const head = await readBody(first.Body as AsyncIterable<Uint8Array>, first.ContentLength ?? 0, { shared: false, whole: false, url });
      try {
        // Junk is found in the first range, before anything more is fetched or written.
        decodeHeader(head, total);
      } catch (error) {
        throw asFormatError(error, url);
      }
      if (etag === undefined) throw new Error(`[larder/store-fs] ${url}: the server sent no ETag, which a mapped load needs to fetch the object in ranges`);
      let filled: CachedCopy;
      try {
        filled = await this.#cache.fill(id, etag, async (handle) => {
          await writeAll(handle, head, 0);
          await this.#fetchRanges(client, sdk, objectKey, etag, head.length, total, handle, url);
        });
      } catch (error) {
        if (error === REPLACED) continue;
        throw error;
      }
      const value = await this.#loadCopy(id, filled, options, true);
      if (value !== VANISHED) return value;
    }
    throw new Error(`[larder/store-fs] ${url} was replaced ${FETCH_ATTEMPTS} times while it was being fetched; try again`);
  }

  /** Fetches bytes `from`..`total` of the object in RANGE_BYTES ranges, PARALLEL_RANGES at once, each only if the ETag is still `etag`. */
  async #fetchRanges(client: S3Client, sdk: S3Sdk, objectKey: string, etag: string, from: number, total: number, handle: FileHandle, url: string): Promise<void> {
    let next = from;
    const worker = async () => {
      while (next < total) {
        const start = next;
        const end = Math.min(start + RANGE_BYTES, total);
        next = end;
        let response;
        try {
          response = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: objectKey, Range: `bytes=${start}-${end - 1}`, IfMatch: etag }));
        } catch (error) {
          if (statusOf(error) === 412 || statusOf(error) === 404) throw REPLACED;
          throw error;
        }
        await writeAll(handle, await readBody(response.Body as AsyncIterable<Uint8Array>, end - start, { shared: false, whole: false, url }), start);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_RANGES }, worker));
  }

  /**
   * Loads a local copy; VANISHED when another process removed it meanwhile. `fresh`: just
   * fetched, so junk in it is the object's FormatError. A copy kept from
   * earlier that no longer reads (truncated or damaged on disk since: a full disk, a tmp
   * cleaner, another program) says nothing of the object, whose ETag S3 just confirmed: it is
   * dropped and the object fetched again, as when the copy vanished.
   */
  async #loadCopy<T>(id: string, copy: CachedCopy, options: LoadOptions | undefined, fresh: boolean): Promise<T | typeof VANISHED> {
    try {
      return (await load<T>(copy.file, options)) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (!fresh && error instanceof FormatError)) {
        await this.#cache.forget(id);
        return VANISHED;
      }
      if (error instanceof FormatError) {
        await this.#cache.forget(id);
        throw new FormatError(`the object is not a readable larder value: ${error.message}`, { file: this.#urlOfCopy(copy), cause: error });
      }
      throw error;
    }
  }

  #urlOfCopy(copy: CachedCopy): string {
    return `${this.description} (local copy ${copy.file})`;
  }

  /** The listing of the values under the prefix `parts`, one array per ListObjectsV2 page. */
  async *#pages(parts: readonly string[]): AsyncGenerator<BlobEntry[]> {
    const { sdk, client } = await this.#connect();
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    const listPrefix = parts.length === 0 ? base : `${base}${parts.join('/')}/`;
    let token: string | undefined;
    do {
      const page = await client.send(new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: listPrefix, MaxKeys: this.#settings.listPageSize, ContinuationToken: token }));
      const entries: BlobEntry[] = [];
      for (const object of page.Contents ?? []) {
        const name = object.Key;
        if (name === undefined || !name.endsWith(OBJECT_SUFFIX) || !name.startsWith(listPrefix)) continue;
        const key = name.slice(base.length, -OBJECT_SUFFIX.length);
        if (!key.split('/').every(isSegment)) continue; // not a key of this store
        entries.push({ key, bytes: object.Size ?? 0, mtimeMs: object.LastModified?.getTime() ?? 0 });
      }
      yield entries;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }
}
