/**
 * The options of `new Memory()` and `memory.cache()`: their types, their
 * defaults (in one const each) and their validation, done once at the
 * boundary so the call path only sees checked, normalised values.
 */
import type { S3Options } from '@larder/store-fs';
import type { LeaseStore } from './lease.js';
import type Keyv from 'keyv';
import { badOption, checkOptionNames, MemoryError, type MemoryWarning } from './errors.js';
import { isIndexStore, type IndexStore } from './index-store.js';
import { parseDuration } from './units.js';
import { INDEX_URIS, parseRemoteUrl } from './remote-url.js';

/** What `validate` receives and `ShelvedResult.info` / `call()` return: facts about one cached result. */
export interface CallInfo {
  /** The entry's id (its key in the location): `<function>/<function id>/<arguments hash>`. */
  id: string;
  /** The cached function's name. */
  functionName: string;
  /** When the result was computed (ms since epoch). */
  createdMs: number;
  /** How long computing it took (ms). */
  computeMs: number;
  /** `Date.now() - createdMs` when this info was made. */
  ageMs: number;
  /** The arguments, cut short for display (joblib's `input_args`). */
  args: string;
  /** Whether this value came from the cache (a hit) rather than being computed now. */
  cached: boolean;
  /** Whether the result is in the cache now (false after a storage failure, or without a location). */
  stored: boolean;
}

/**
 * Options of `new Memory(location, options)`.
 *
 * @example
 * ```ts
 * import { Memory } from '@larder/memory';
 * const memory = new Memory('.cache', { verbose: 1, mmap: 'r' });
 * ```
 */
export interface MemoryOptions {
  /**
   * joblib's verbosity for every cached function (a function's own `verbose` wins):
   * 0 silent; ≥ 1 prints `[Memory] Calling f...` and `f - 0.1s, 0.0min` on misses and
   * says when a changed function's entries are cleared; ≥ 2 also prints `Loading f...` on hits.
   * @default 0
   */
  verbose?: number;
  /**
   * Default `mmap` for every cached function: `'r'` returns large typed arrays in results
   * as views on a copy-on-write mapping of the entry file (O(1) hits, files larger than RAM),
   * or as store-fs `MappedArray`s where real memory maps are unavailable. The result types
   * cannot see this default: pass `mmap: 'r'` to `cache()` too for types that say so (`Mapped<R>`).
   * @default undefined (results are read eagerly)
   */
  mmap?: 'r' | undefined;
  /**
   * Where the index lives: `'redis://host:6379/0'` or `'postgres://user@host:5432/db'` (one index
   * shared by every machine using the location, in a namespace derived from the location; name
   * it with `?namespace=NAME` when machines name the location differently; needs the optional
   * package `@keyv/redis` or `pg`), a `sqlite://path` URI, an {@link IndexStore} object (your
   * own implementation of larder's index interface), or a bare keyv instance (degraded: counters
   * are read-add-write, listings iterate every record; see the README).
   * @default SQLite at `<location>/index.sqlite` (WAL, busy timeout)
   */
  index?: IndexStore | Keyv | string | undefined;
  /**
   * Receives each warning (a corrupt entry, an unstorable result, a failing index). Each kind
   * of warning is delivered once per cached function (once per Memory for the index).
   * @default `process.emitWarning(warning)`
   */
  onWarning?: ((warning: MemoryWarning) => void) | undefined;
  /**
   * Receives verbose output, one call per message (which may hold several lines).
   * @default writes the message and a newline to stderr
   */
  log?: ((message: string) => void) | undefined;
  /**
   * How long hit counts and last-access times wait in memory before they are written to the
   * index in one batch. `Infinity` writes only on `close()`, `stats()`, `reduceSize()` and exit.
   * @default 1000
   */
  flushIntervalMs?: number;
  /**
   * In-flight dedup across processes and worker threads: when several of them miss the same
   * call at once, one computes it (holding a lease file next to the entry) and the others
   * wait for its result. `false` gives joblib's behaviour: each computes, the last write wins.
   * Calls in one thread of one Memory always share one computation. A function whose last
   * computation in this thread took under 5 ms skips the lease (computing twice is cheaper
   * than the lease's file operations).
   * @default true
   */
  dedupe?: boolean;
  /**
   * How long a lease lives without renewal. A holder renews it every `leaseMs / 3` while it
   * computes; a holder whose process died on this host is replaced at once, any other
   * (a dead worker thread, another host) once its lease is `leaseMs` old. A synchronous
   * function that blocks its thread for longer than this may be computed twice.
   * @default 30000
   */
  leaseMs?: number;
  /**
   * Version keeping: a body (version) of a function is stale when a newer body of its name
   * exists AND it has not been used (hit, stored or missed) for this long: ms, or '7d', '12h'.
   * Two bodies in use at once are never stale. Stale entries show in `stats()` and `larder ls`,
   * go first in `reduceSize()`, and `clearStale()` / `larder prune --stale` remove them.
   * @default '7d'
   */
  staleAfter?: number | string;
  /**
   * Where in-flight leases live (see `dedupe`), for locations shared by several machines:
   * `'redis://…'` or `'postgres://…'` (in the location's namespace, like `index`), or a
   * {@link LeaseStore} of your own (it must pass `leaseStoreConformance` from
   * `@larder/memory/testing`; a store you pass stays yours to close).
   * @default on the index's server when `index` is a `redis://` or `postgres://` URL; otherwise
   * lease files beside the entries (`FileLeaseStore`, one host)
   */
  leases?: LeaseStore | string | undefined;
  /**
   * S3 settings for an `'s3://bucket/prefix'` location (endpoint, region, credentials,
   * forcePathStyle, the local read-through cache: store-fs's `S3Options`), passed to store-fs's
   * `openStore`. Unset fields come from the AWS_* environment (`AWS_ENDPOINT_URL_S3`,
   * `AWS_REGION`, `AWS_ACCESS_KEY_ID`, …). Only with an s3:// location.
   */
  s3?: S3Options | undefined;
}

/**
 * Options of `memory.cache(fn, options)`.
 *
 * @example
 * ```ts
 * import { Memory } from '@larder/memory';
 * const memory = new Memory('.cache');
 * const simulate = memory.cache((seed: number, log: (s: string) => void) => seed * 2, {
 *   name: 'simulate', ignore: [1], version: 2, expiresAfter: '7d',
 * });
 * ```
 */
export interface CacheOptions<Args extends unknown[] = unknown[]> {
  /**
   * The name entries are filed under and verbose output shows. Anonymous functions need one.
   * Any string works (long or unsafe names get a shortened, hashed folder). Entries are filed
   * per body under the name, so two functions of one name each hit their own entries;
   * `clear()` and `clearFunction(name)` cover every body of the name.
   * @default fn.name
   */
  name?: string | undefined;
  /**
   * Argument positions (from 0) left out of the key, e.g. a logger or a verbosity flag.
   * @default []
   */
  ignore?: readonly number[] | undefined;
  /**
   * Derives the key from the arguments; its return value is hashed instead of the arguments.
   * Use it for arguments `hash()` cannot take (functions) or to key on part of an argument.
   * @default undefined (the arguments are hashed)
   */
  key?: ((...args: Args) => unknown) | undefined;
  /**
   * Bump to invalidate every entry of this function (part of the function identity).
   * Required for a bound or native function (`obj.method.bind(obj)`), whose source is
   * hidden: `cache()` throws without it, since an edited body would not be noticed.
   * @default undefined
   */
  version?: string | number | undefined;
  /**
   * `'r'`: results come back as store-fs `load(path, { mmap: 'r' })` gives them, on a hit and on a miss alike:
   * large typed arrays over a copy-on-write mapping, or `MappedArray`s where mapping is unavailable, so the
   * cached function's result type is store-fs's `Mapped<R>`.
   * @default the Memory's `mmap`
   */
  mmap?: 'r' | undefined;
  /**
   * Consulted on hits only (joblib's `cache_validation_callback`): return false to recompute.
   * @default undefined (every stored entry is valid)
   */
  validate?: ((info: CallInfo) => boolean) | undefined;
  /**
   * Entries older than this (counted from their creation) are recomputed. Milliseconds or '30m', '2h', '7d'.
   * @default undefined (never expire)
   */
  expiresAfter?: number | string | undefined;
  /**
   * Verbosity for this function (see `MemoryOptions.verbose`).
   * @default the Memory's `verbose`
   */
  verbose?: number | undefined;
  /**
   * In-flight dedup across processes and threads for this function (see `MemoryOptions.dedupe`).
   * @default the Memory's `dedupe`
   */
  dedupe?: boolean | undefined;
}

/** The defaults of {@link MemoryOptions}. */
export const MEMORY_DEFAULTS = {
  verbose: 0,
  mmap: undefined,
  index: undefined,
  onWarning: (warning: MemoryWarning) => process.emitWarning(warning),
  log: (message: string) => void process.stderr.write(`${message}\n`),
  flushIntervalMs: 1000,
  dedupe: true,
  leaseMs: 30_000,
  staleAfter: '7d',
  leases: undefined,
  s3: undefined,
} as const satisfies { [K in keyof Required<MemoryOptions>]: MemoryOptions[K] };

const MEMORY_OPTION_NAMES = Object.keys(MEMORY_DEFAULTS);
/** joblib's Memory arguments, which would otherwise be ignored without a word. */
const MEMORY_JOBLIB_HINTS: Record<string, string> = {
  mmap_mode: "use mmap: 'r'",
  bytes_limit: "call memory.reduceSize({ bytesLimit }) (joblib's bytes_limit is deprecated for the same call)",
  location: 'pass the location as the first argument: new Memory(location, options)',
  backend: 'pass a BlobStore as the location: new Memory(store, options)',
  backend_options: 'pass a BlobStore as the location, or s3 for S3 settings',
  compress: 'not supported: results are stored uncompressed',
};

/** Every {@link CacheOptions} name (a record, so a new option left out is a type error). */
const CACHE_OPTIONS: Record<keyof CacheOptions<never[]>, true> = {
  name: true, ignore: true, key: true, version: true, mmap: true, validate: true, expiresAfter: true, verbose: true, dedupe: true,
};
const CACHE_OPTION_NAMES = Object.keys(CACHE_OPTIONS);
const CACHE_JOBLIB_HINTS: Record<string, string> = {
  mmap_mode: "use mmap: 'r'",
  cache_validation_callback: 'use validate: (info) => boolean',
};

/** {@link MemoryOptions} after validation. */
export interface ResolvedMemoryOptions {
  verbose: number;
  mmap: 'r' | undefined;
  index: IndexStore | Keyv | string | undefined;
  onWarning: (warning: MemoryWarning) => void;
  log: (message: string) => void;
  flushIntervalMs: number;
  dedupe: boolean;
  leaseMs: number;
  staleAfterMs: number;
  leases: LeaseStore | string | undefined;
  s3: S3Options | undefined;
}

/** {@link CacheOptions} after validation. */
export interface ResolvedCacheOptions {
  name: string;
  /** `fn`'s source text, read once here: it enters the function identity and names the function in errors. */
  source: string;
  ignore: ReadonlySet<number> | undefined;
  key: ((...args: never[]) => unknown) | undefined;
  version: string | number | undefined;
  mmap: 'r' | undefined;
  validate: ((info: CallInfo) => boolean) | undefined;
  expiresAfterMs: number | undefined;
  verbose: number;
  dedupe: boolean;
  leaseMs: number;
}

/** How a bound or native function prints: no body to hash into the function identity. */
const NATIVE_SOURCE = /\{\s*\[native code\]\s*\}$/;

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function';

function checkVerbose(value: unknown, name: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  return badOption(name, 'a non-negative integer', value);
}

function checkMmap(value: unknown, name: string): 'r' | undefined {
  if (value === undefined || value === 'r') return value;
  return badOption(name, "'r' or undefined", value);
}

/** The longest delay Node's timers keep (2^31-1 ms); a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Validates `new Memory()` options once. */
export function resolveMemoryOptions(options: MemoryOptions | undefined): ResolvedMemoryOptions {
  if (options !== undefined && (options === null || typeof options !== 'object')) badOption('options', 'an object', options);
  if (options !== undefined) checkOptionNames('new Memory(location, options)', options, MEMORY_OPTION_NAMES, MEMORY_JOBLIB_HINTS);
  const o = { ...MEMORY_DEFAULTS, ...stripUndefined(options ?? {}) };
  const index = o.index as unknown;
  if (typeof index === 'string' && parseRemoteUrl(index, 'index') === undefined && !index.startsWith('sqlite://')) badOption('index', INDEX_URIS, index);
  // 'sqlite://' alone opened SQLite's private temporary database: an index nobody else sees, gone at close.
  if (typeof index === 'string' && index.startsWith('sqlite://') && (index.slice('sqlite://'.length).trim() === '' || index.includes('\0'))) badOption('index', '"sqlite://path" with the path of the SQLite file', index);
  if (index !== undefined && typeof index !== 'string' && !isIndexStore(index) && !(typeof index === 'object' && index !== null && typeof (index as Keyv).getMany === 'function')) {
    badOption('index', INDEX_URIS, index);
  }
  if (!isFunction(o.onWarning)) badOption('onWarning', 'a function', o.onWarning);
  if (!isFunction(o.log)) badOption('log', 'a function', o.log);
  // Node's timers fire after 1 ms past 2^31-1 ms: a larger finite interval would flush (or renew) at once, over and over.
  if (typeof o.flushIntervalMs !== 'number' || !(o.flushIntervalMs >= 0) || (o.flushIntervalMs > MAX_TIMER_MS && o.flushIntervalMs !== Infinity)) {
    badOption('flushIntervalMs', `a non-negative number of milliseconds up to ${MAX_TIMER_MS} (about 24.8 days), or Infinity to write only on close, stats, reduceSize and exit`, o.flushIntervalMs);
  }
  if (typeof o.dedupe !== 'boolean') badOption('dedupe', 'true or false', o.dedupe);
  if (typeof o.leaseMs !== 'number' || !(o.leaseMs > 0) || !(o.leaseMs <= MAX_TIMER_MS)) badOption('leaseMs', `a positive number of milliseconds up to ${MAX_TIMER_MS} (about 24.8 days)`, o.leaseMs);
  const leases = o.leases as unknown;
  if (typeof leases === 'string') {
    if (parseRemoteUrl(leases, 'leases') === undefined) badOption('leases', 'a "redis://…" or "postgres://…" URL, or a LeaseStore', leases);
  } else if (leases !== undefined && !(typeof leases === 'object' && leases !== null && (['acquire', 'renew', 'release', 'takeOver'] as const).every((m) => typeof (leases as Record<string, unknown>)[m] === 'function'))) {
    badOption('leases', 'a "redis://…" or "postgres://…" URL, or a LeaseStore (an object with acquire, renew, release and takeOver)', leases);
  }
  if (o.s3 !== undefined && (o.s3 === null || typeof o.s3 !== 'object')) badOption('s3', 'an object of S3 settings (endpoint, region, credentials, forcePathStyle, …)', o.s3);
  return {
    verbose: checkVerbose(o.verbose, 'verbose'),
    mmap: checkMmap(o.mmap, 'mmap'),
    index: o.index as IndexStore | Keyv | string | undefined,
    onWarning: o.onWarning,
    log: o.log,
    flushIntervalMs: o.flushIntervalMs,
    dedupe: o.dedupe,
    leaseMs: o.leaseMs,
    staleAfterMs: parseDuration(o.staleAfter, 'staleAfter'),
    leases: leases as LeaseStore | string | undefined,
    s3: o.s3,
  };
}

/** Validates `memory.cache(fn, options)` once, filling defaults from the Memory. */
export function resolveCacheOptions(fn: unknown, options: CacheOptions<never[]> | undefined, memory: ResolvedMemoryOptions): ResolvedCacheOptions {
  if (!isFunction(fn)) badOption('memory.cache(fn): fn', 'a function', fn);
  if (options !== undefined && (options === null || typeof options !== 'object')) badOption('memory.cache(fn, options): options', 'an object', options);
  if (options !== undefined) checkOptionNames('memory.cache(fn, options)', options, CACHE_OPTION_NAMES, CACHE_JOBLIB_HINTS);
  const o = stripUndefined(options ?? {});
  const name = o.name ?? fn.name;
  if (typeof name !== 'string' || name === '') {
    throw new MemoryError('LARDER_OPTION', `memory.cache(fn) needs a name for an anonymous function: pass { name: 'myFunction' }${o.name !== undefined ? `; got name ${JSON.stringify(o.name)}` : ''}`);
  }
  let ignore: Set<number> | undefined;
  if (o.ignore !== undefined) {
    if (!Array.isArray(o.ignore) || !o.ignore.every((i) => Number.isInteger(i) && i >= 0)) badOption('ignore', 'an array of argument positions (integers from 0)', o.ignore);
    ignore = new Set(o.ignore);
  }
  if (o.key !== undefined && !isFunction(o.key)) badOption('key', 'a function of the arguments', o.key);
  // key replaces the arguments in the hash: ignore would be dropped without a word.
  if (o.key !== undefined && ignore !== undefined && ignore.size > 0) {
    throw new MemoryError('LARDER_OPTION', `memory.cache(fn, options): ignore has no effect with key (key's return value is hashed instead of the arguments); leave the ignored arguments out of what key returns`);
  }
  if (o.version !== undefined && typeof o.version !== 'string' && typeof o.version !== 'number') badOption('version', 'a string or a number', o.version);
  // Function.prototype.toString, not fn.toString(): a function's own toString cannot hide its body.
  const source = Function.prototype.toString.call(fn);
  if (o.version === undefined && NATIVE_SOURCE.test(source)) {
    throw new MemoryError(
      'LARDER_OPTION',
      `memory.cache(fn): ${name} is a bound or native function, whose source is hidden (its toString() is "function () { [native code] }"), ` +
        'so the function identity cannot see its body: after an edit, old results would come back. ' +
        'Pass { version } and bump it whenever the function changes.',
    );
  }
  if (o.validate !== undefined && !isFunction(o.validate)) badOption('validate', 'a function (info) => boolean', o.validate);
  if (o.dedupe !== undefined && typeof o.dedupe !== 'boolean') badOption('dedupe', 'true or false', o.dedupe);
  return {
    name,
    source,
    ignore,
    key: o.key as ResolvedCacheOptions['key'],
    version: o.version,
    mmap: o.mmap === undefined ? memory.mmap : checkMmap(o.mmap, 'mmap'),
    validate: o.validate,
    expiresAfterMs: o.expiresAfter === undefined ? undefined : parseDuration(o.expiresAfter, 'expiresAfter'),
    verbose: o.verbose === undefined ? memory.verbose : checkVerbose(o.verbose, 'verbose'),
    dedupe: o.dedupe ?? memory.dedupe,
    leaseMs: memory.leaseMs,
  };
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [key, value] of Object.entries(options)) if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  return out;
}
