/**
 * What is in a cache key, and where an entry lives.
 *
 * An entry's key is `<function folder>/<function id>/<arguments hash>`:
 * - the function folder is the function's name made safe for a file name
 *   (with a short hash of the real name when characters had to be replaced
 *   or a long name shortened),
 *   so `larder ls` and `clear --function` can find a function's entries;
 * - the function id hashes the name, the source text `fn.toString()` and the
 *   `version` option, so a changed body or a bumped version lands in a new
 *   folder and the old folder is recognisably stale;
 * - the arguments hash is `hash()` of the argument list (trailing `undefined`
 *   arguments dropped, `ignore`d positions left out) or of what the `key`
 *   option returns.
 * Values captured by closures, globals and files the function reads are not
 * in the key.
 */
import { hash, hashString } from './hash.js';

/** The identity of one cached function, computed once by `memory.cache()`. */
export interface FunctionIdentity {
  /** The name the user sees (`name` option or `fn.name`). */
  name: string;
  /** The folder under the results root: the name made file-safe. */
  folder: string;
  /** 16 hex: name + source + version. */
  id: string;
}

const SAFE = /^[A-Za-z0-9._-]+$/;
/** Longer names are shortened: a path component has at most 255 bytes on most file systems. */
const MAX_FOLDER = 100;

/**
 * The file-safe folder for a function name: the name itself when it is short and made of
 * `[A-Za-z0-9._-]`; otherwise its first 64 characters made safe plus a hash of the whole
 * name (8 hex for a name with unsafe characters, as before; 16 for a shortened long one).
 * The full name stays in every entry and index record, and a hit checks it.
 */
export function functionFolder(name: string): string {
  if (SAFE.test(name) && name !== '.' && name !== '..' && name.length <= MAX_FOLDER) return name;
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  return `${safe}-${hashString(name).slice(0, name.length > MAX_FOLDER ? 16 : 8)}`;
}

/** The identity of `fn` under `name` and `version`. */
export function functionIdentity(name: string, source: string, version: string | number | undefined): FunctionIdentity {
  return {
    name,
    folder: functionFolder(name),
    id: hash(['larder.fn/1', name, source, version === undefined ? null : String(version)]),
  };
}

/**
 * The hash of a call's arguments: the `key` option's result when given,
 * otherwise the arguments without `ignore`d positions and trailing undefineds.
 * Errors name the argument as `$[i]` (the i-th argument, from 0).
 */
export function argumentsHash(
  args: readonly unknown[],
  ignore: ReadonlySet<number> | undefined,
  key: ((...args: never[]) => unknown) | undefined,
): string {
  if (key) return hash((key as (...a: unknown[]) => unknown)(...args), 'key(...)');
  let list: readonly unknown[] = args;
  if (ignore !== undefined && ignore.size > 0) {
    // An ignored position reads as undefined, so positions (and error paths like $[2]) stay put.
    list = args.map((arg, i) => (ignore.has(i) ? undefined : arg));
  }
  let end = list.length;
  while (end > 0 && list[end - 1] === undefined) end--;
  return hash(end === list.length ? list : list.slice(0, end), 'args');
}
