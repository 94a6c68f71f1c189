/**
 * The two error classes of store-fs. Each carries a stable `code` so callers
 * (the cache in @larder/memory, user code) can branch without parsing text.
 */

/** Prefix of every message this package produces. */
export const PREFIX = '[larder/store-fs]';

/**
 * Anything wrong with a file: not a larder file, truncated, corrupt (checksum
 * mismatch, offsets outside the file), or written by a newer format version.
 *
 * @example
 * ```ts
 * import { load, FormatError } from '@larder/store-fs';
 * try {
 *   await load('/tmp/result.larder');
 * } catch (error) {
 *   if (error instanceof FormatError) console.warn('recomputing:', error.message);
 *   else throw error;
 * }
 * ```
 */
export class FormatError extends Error {
  /** Always `'LARDER_FORMAT'`. */
  readonly code = 'LARDER_FORMAT' as const;
  /** The file the problem was found in, when known. */
  file: string | undefined;

  constructor(message: string, options?: { file?: string; cause?: unknown }) {
    const where = options?.file === undefined ? '' : ` (${options.file})`;
    super(`${PREFIX} ${message}${where}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FormatError';
    this.file = options?.file;
  }
}

/**
 * A value that store-fs cannot store (a function, a symbol, a class instance,
 * a WeakMap, a Promise...). `path` says where it sits, e.g. `$.runs[3].model`.
 *
 * @example
 * ```ts
 * import { dumpSync, UnsupportedValueError } from '@larder/store-fs';
 * try {
 *   dumpSync({ runs: [{ model: () => 1 }] }, '/tmp/x.larder');
 * } catch (error) {
 *   if (error instanceof UnsupportedValueError) console.log(error.path); // $.runs[0].model
 * }
 * ```
 */
export class UnsupportedValueError extends Error {
  /** Always `'LARDER_UNSUPPORTED'`. */
  readonly code = 'LARDER_UNSUPPORTED' as const;
  /** Where the value sits, in JavaScript accessor syntax rooted at `$`. */
  readonly path: string;

  constructor(path: string, what: string, advice: string) {
    super(`${PREFIX} ${path} is ${what}; ${advice}`);
    this.name = 'UnsupportedValueError';
    this.path = path;
  }
}

/** Names `file` in a FormatError raised below the place that knows the path. */
export function withFile(error: unknown, file: string): unknown {
  if (error instanceof FormatError && error.file === undefined) {
    error.file = file;
    error.message += ` (${file})`;
  }
  return error;
}

/** Throws a FormatError unless `condition` holds. Used for every bounds check. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new FormatError(message);
}

/**
 * The codes of store-fs errors other than FormatError and UnsupportedValueError
 * (see the error-code table in the README): a bad option or argument, use of a
 * closed MappedArray, a value or file larger than one buffer holds, a runtime
 * that lacks a codec (or a blob store driver), a folder store write that would
 * go through a symlink.
 */
export type ErrorCode = 'LARDER_OPTION' | 'LARDER_CLOSED' | 'LARDER_TOO_LARGE' | 'LARDER_MISSING_DRIVER' | 'LARDER_UNSAFE_PATH';

/** An error of class `Kind` whose message starts with the package prefix and which carries `code`. */
export function codedError<E extends Error>(Kind: new (message: string) => E, code: ErrorCode, message: string): E & { code: ErrorCode } {
  return Object.assign(new Kind(`${PREFIX} ${message}`), { code });
}

/** A TypeError with code LARDER_OPTION for a bad option or argument: names it and what it got. */
export function badOption(name: string, expected: string, got: unknown): TypeError & { code: ErrorCode } {
  return codedError(TypeError, 'LARDER_OPTION', `${name} must be ${expected}, got ${describe(got)}`);
}

/** Checks a file path argument of dump, load and their sync forms. */
export function checkPath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) throw badOption('path', 'a non-empty file path string', path);
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (value !== null && typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}
