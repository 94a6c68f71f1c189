/**
 * The errors and warnings of @larder/memory. Every one carries a stable `code`
 * (match on it, not on the message) and, where something lay underneath, a
 * `cause`. Messages start with `[larder/memory]` and say what happened, where,
 * and what to do.
 */

/** Stable codes of {@link MemoryError} and {@link MemoryWarning}. */
export type MemoryErrorCode =
  /** An option or argument has a wrong type or value (was `LARDER_BAD_OPTION` before 0.2). */
  | 'LARDER_OPTION'
  /** A value given to `hash()` (or a cached call's arguments) holds a function, symbol or other unhashable value. */
  | 'LARDER_UNHASHABLE'
  /**
   * No longer raised: two functions of one name each hit their own entries, since nothing is
   * deleted at call time. Kept so code matching on it still compiles.
   */
  | 'LARDER_SUPERSEDED'
  /**
   * The location is not a larder cache: a folder without larder's marker that holds files larder
   * did not write, a file, or a folder that cannot be read. Clearing, pruning and writing refuse it
   * (a cached call computes, warns once and stores nothing); read-only calls change nothing.
   */
  | 'LARDER_NOT_A_CACHE'
  /** `ShelvedResult.get()` found no stored result (it was cleared or evicted). */
  | 'LARDER_SHELVED_MISSING'
  /** Warning: a result file was corrupt, truncated or not an entry; the call recomputed it and overwrote the file. */
  | 'LARDER_ENTRY_CORRUPT'
  /** Warning: a result file could not be read (too many open files, EIO, permissions); the call computed its value and left the file as it is. */
  | 'LARDER_ENTRY_UNREADABLE'
  /** Warning: a result could not be stored (unsupported value, disk full, read-only location); it was returned uncached. */
  | 'LARDER_NOT_STORED'
  /** Warning: the index database failed (corrupt, locked, unreachable); it was rebuilt or bypassed. */
  | 'LARDER_INDEX'
  /** Warning: no SQLite driver loads (sqlite3's binding was never built and the runtime has no built-in SQLite); the index is kept in memory for this process. */
  | 'LARDER_MISSING_DRIVER';

/**
 * An error thrown by @larder/memory.
 *
 * @example
 * ```ts
 * import { hash, MemoryError } from '@larder/memory';
 * try { hash({ f: () => 1 }); } catch (error) {
 *   if (error instanceof MemoryError && error.code === 'LARDER_UNHASHABLE') console.log(error.message);
 * }
 * ```
 */
export class MemoryError extends Error {
  readonly code: MemoryErrorCode;
  constructor(code: MemoryErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[larder/memory] ${message}`, options);
    this.name = 'MemoryError';
    this.code = code;
  }
}

const UNSTABLE_ADVICE = 'functions, symbols, promises and weak collections have no stable content. ' +
  'Leave that argument out of the key with the `ignore` option, or derive a key with the `key` option.';

/**
 * The error `hash()` throws for a value it cannot hash. `path` says where the
 * value sits, like `$[2].callback` (for a cached call, `$[2]` is the third argument).
 *
 * @example
 * ```ts
 * import { hash, HashError } from '@larder/memory';
 * try { hash([1, { cb: () => 0 }]); } catch (error) {
 *   if (error instanceof HashError) console.log(error.path); // "$[1].cb"
 * }
 * ```
 */
export class HashError extends MemoryError {
  readonly path: string;
  /** `advice` says why `what` cannot be hashed and what to do instead (the default suits functions, symbols, promises). */
  constructor(path: string, what: string, advice: string = UNSTABLE_ADVICE) {
    super('LARDER_UNHASHABLE', `cannot hash ${what} at ${path}: ${advice}`);
    this.name = 'HashError';
    this.path = path;
  }
}

/**
 * A warning @larder/memory raises instead of failing a call: the call still
 * returned the right value, but the cache could not do its part. Delivered to
 * `MemoryOptions.onWarning` (default: `process.emitWarning`).
 *
 * @example
 * ```ts
 * import { Memory, type MemoryWarning } from '@larder/memory';
 * const memory = new Memory('.cache', { onWarning: (w: MemoryWarning) => console.error(w.code, w.message) });
 * ```
 */
export class MemoryWarning extends Error {
  readonly code: MemoryErrorCode;
  constructor(code: MemoryErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[larder/memory] ${message}`, options);
    this.name = 'MemoryWarning';
    this.code = code;
  }
}

/** Throws the `LARDER_OPTION` error for option `name`, showing what it got. */
export function badOption(name: string, expected: string, got: unknown): never {
  throw new MemoryError('LARDER_OPTION', `${name} must be ${expected}, got ${describe(got)}`);
}

/**
 * Refuses an option name that `where` does not know: a misspelt option
 * (`byteLimit`, `expireAfter`) or joblib's spelling of one (`mmap_mode`) would
 * otherwise be ignored without a word, and a reduceSize with a misspelt limit
 * silently removes nothing. `hints` gives advice for names users are known to
 * bring from joblib. Symbol keys are not options and are left alone.
 */
export function checkOptionNames(where: string, options: object, known: readonly string[], hints: Readonly<Record<string, string>> = {}): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const hint = Object.hasOwn(hints, key) ? hints[key] : `the options are ${known.join(', ')}`;
    throw new MemoryError('LARDER_OPTION', `${where}: unknown option ${JSON.stringify(key)}: ${hint}`);
  }
}

/** A short, safe description of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return `an object (${Object.getPrototypeOf(value)?.constructor?.name ?? 'null prototype'})`;
}
