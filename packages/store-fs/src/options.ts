/**
 * Options of dump and load: the interfaces users see, their defaults in one
 * place, and the validation done once at the API boundary.
 */
import { badOption, codedError } from './errors.js';

/** A compression method name accepted by {@link DumpOptions.compress}. */
export type CompressionName = 'gzip' | 'brotli' | 'zstd';

/**
 * Options of `dump`, `dumpSync` and `BlobStore.put`.
 *
 * @example
 * ```ts
 * import { dump } from '@larder/store-fs';
 * await dump({ weights: new Float64Array(1e6) }, '/tmp/w.larder', { compress: { method: 'brotli', level: 5 } });
 * ```
 */
export interface DumpOptions {
  /**
   * Compress the payload (everything after the header) as one stream.
   * `true` means gzip at level 3 (joblib's `compress=True`). A string names
   * the method at its default level (gzip 3, brotli 4, zstd 3); an object
   * gives the level too. 'zstd' needs a Node whose node:zlib has zstd
   * (22.15 or later); elsewhere it is an error that says so.
   * @default false
   */
  compress?: boolean | CompressionName | { method: CompressionName; level?: number };
  /**
   * fsync the file before it is renamed into place, so it survives a power
   * loss as well as a process crash. Costs a disk flush per dump.
   * @default false
   */
  fsync?: boolean;
}

/**
 * Options of `load`, `loadSync` and `BlobStore.get`.
 *
 * @example
 * ```ts
 * import { load } from '@larder/store-fs';
 * const big = await load<{ x: unknown }>('/tmp/w.larder', { mmap: 'r', mmapThreshold: 1 << 20 });
 * ```
 */
export interface LoadOptions {
  /**
   * `'r'`: open in O(1) of the file size; typed arrays of at least
   * `mmapThreshold` bytes come back as read-only `MappedArray`s that read
   * only what is asked. Ignored for a compressed file, which is decoded
   * eagerly (its bytes cannot be read in place).
   * @default undefined (eager: the whole file is read once)
   */
  mmap?: 'r' | undefined;
  /**
   * Read the file into a SharedArrayBuffer: every typed array (and Buffer,
   * DataView) in the value is a view on it, ready for worker threads.
   * @default false
   */
  shared?: boolean;
  /**
   * With `mmap: 'r'`, typed arrays of at least this many bytes become
   * `MappedArray`s; smaller ones are read at once.
   * @default 65536
   */
  mmapThreshold?: number;
  /**
   * Check the xxh64 checksum of every segment read. The header and the
   * manifest are always checked. Turn off only for trusted files when the
   * last few percent of load speed matter. With `mmap: 'r'`, the arrays left
   * in the file (at least `mmapThreshold` bytes) are not read at open, so by
   * default they are not checked: a flipped byte in one goes unnoticed.
   * Passing `verify: true` explicitly checks them too, at open (an O(n) pass
   * over them); `verify(value)` does the same later.
   * @default true (with `mmap: 'r'`: everything read at open)
   */
  verify?: boolean;
}

export const COMPRESSION_LEVELS = {
  gzip: { default: 3, min: 0, max: 9 },
  brotli: { default: 4, min: 0, max: 11 },
  zstd: { default: 3, min: 1, max: 22 },
} as const;

const DUMP_DEFAULTS = { compress: false, fsync: false } as const satisfies Required<DumpOptions>;
const LOAD_DEFAULTS = { mmap: undefined, shared: false, mmapThreshold: 65536, verify: true } as const;

export interface ResolvedDumpOptions {
  compression: { method: CompressionName; level: number } | undefined;
  fsync: boolean;
}

export interface ResolvedLoadOptions {
  mmap: boolean;
  shared: boolean;
  mmapThreshold: number;
  verify: boolean;
  /** `verify: true` given explicitly: an mmap load checks the segments it leaves in the file too. */
  verifyMapped: boolean;
}

const LOAD_RESOLVED_DEFAULTS: ResolvedLoadOptions = { ...LOAD_DEFAULTS, mmap: false, verifyMapped: false };
const DUMP_RESOLVED_DEFAULTS: ResolvedDumpOptions = { compression: undefined, fsync: false };

/**
 * Refuses an option name nobody reads: a misspelt `compres` or `mmapThreshhold`, or joblib's
 * `mmap_mode`, would otherwise be ignored without a word (a file written uncompressed, a
 * load read eagerly).
 */
export function checkNames(where: string, options: object, known: readonly string[]): void {
  for (const key in options) {
    if (known.includes(key) || !Object.hasOwn(options, key)) continue;
    const hint = Object.hasOwn(JOBLIB_HINTS, key) ? JOBLIB_HINTS[key] : `the options are ${known.join(', ')}`;
    throw codedError(TypeError, 'LARDER_OPTION', `${where}: unknown option ${JSON.stringify(key)}: ${hint}`);
  }
}

const DUMP_OPTION_NAMES = Object.keys(DUMP_DEFAULTS);
const LOAD_OPTION_NAMES = Object.keys({ mmap: true, shared: true, mmapThreshold: true, verify: true } satisfies Record<keyof LoadOptions, true>);
/** joblib's spellings of dump/load arguments. */
const JOBLIB_HINTS: Record<string, string> = {
  mmap_mode: "use mmap: 'r'",
  protocol: 'not needed: the format has one version, chosen by what the value holds',
  cache_size: 'not needed',
};

export function resolveDumpOptions(options: DumpOptions | undefined): ResolvedDumpOptions {
  if (options === undefined) return DUMP_RESOLVED_DEFAULTS;
  if (typeof options !== 'object' || options === null) throw badOption('dump options', 'an object', options);
  checkNames('dump options', options, DUMP_OPTION_NAMES);
  const fsync = options.fsync ?? DUMP_DEFAULTS.fsync;
  if (typeof fsync !== 'boolean') throw badOption('fsync', 'a boolean', fsync);
  return { compression: resolveCompression(options.compress ?? DUMP_DEFAULTS.compress), fsync };
}

function resolveCompression(compress: NonNullable<DumpOptions['compress']>): ResolvedDumpOptions['compression'] {
  if (compress === false) return undefined;
  if (compress === true) return { method: 'gzip', level: COMPRESSION_LEVELS.gzip.default };
  const expected = "false, true, 'gzip', 'brotli', 'zstd' or { method, level }";
  const method = typeof compress === 'string' ? compress : typeof compress === 'object' && compress !== null ? compress.method : undefined;
  if (method !== 'gzip' && method !== 'brotli' && method !== 'zstd') {
    throw badOption(typeof compress === 'object' ? 'compress.method' : 'compress', expected, method ?? compress);
  }
  const limits = COMPRESSION_LEVELS[method];
  const level = typeof compress === 'object' ? (compress.level ?? limits.default) : limits.default;
  if (!Number.isInteger(level) || level < limits.min || level > limits.max) {
    throw badOption('compress.level', `an integer from ${limits.min} to ${limits.max} for ${method}`, level);
  }
  return { method, level };
}

export function resolveLoadOptions(options: LoadOptions | undefined): ResolvedLoadOptions {
  if (options === undefined) return LOAD_RESOLVED_DEFAULTS;
  if (typeof options !== 'object' || options === null) throw badOption('load options', 'an object', options);
  checkNames('load options', options, LOAD_OPTION_NAMES);
  const { mmap, shared = LOAD_DEFAULTS.shared, mmapThreshold = LOAD_DEFAULTS.mmapThreshold, verify = LOAD_DEFAULTS.verify } = options;
  if (mmap !== undefined && mmap !== 'r') throw badOption('mmap', "'r' or undefined", mmap);
  if (typeof shared !== 'boolean') throw badOption('shared', 'a boolean', shared);
  if (typeof verify !== 'boolean') throw badOption('verify', 'a boolean', verify);
  if (!Number.isSafeInteger(mmapThreshold) || mmapThreshold < 0) {
    throw badOption('mmapThreshold', 'a non-negative integer number of bytes', mmapThreshold);
  }
  return { mmap: mmap === 'r', shared, mmapThreshold, verify, verifyMapped: options.verify === true };
}
