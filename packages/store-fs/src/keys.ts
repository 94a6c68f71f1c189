/**
 * Blob store keys: names of [A-Za-z0-9._-] joined by '/'. Every store checks
 * keys here, so a key means the same thing on a folder and on S3, and no key
 * can name an absolute path, a parent folder, a drive or a backslash path:
 * every file a folder store touches is under its root.
 */
import { codedError, describe } from './errors.js';

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Whether `name` is one key segment: [A-Za-z0-9._-]+, not '.' or '..'. */
export function isSegment(name: string): boolean {
  return SEGMENT.test(name) && name !== '.' && name !== '..';
}

/** A key's segments; a TypeError (LARDER_OPTION) naming the key otherwise. */
export function checkKey(key: unknown, what = 'key'): string[] {
  const parts = typeof key === 'string' ? key.split('/') : [];
  if (parts.length === 0 || !parts.every(isSegment)) throw invalidKey(key, what);
  return parts;
}

/** A prefix's segments: '' (everything) gives none; one trailing '/' is allowed ('a/' is 'a'). */
export function checkPrefix(prefix: unknown): string[] {
  if (prefix === '') return [];
  if (typeof prefix !== 'string') throw invalidKey(prefix, 'prefix');
  try {
    return checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, 'prefix');
  } catch {
    throw invalidKey(prefix, 'prefix');
  }
}

function invalidKey(key: unknown, what: string): TypeError {
  return codedError(
    TypeError,
    'LARDER_OPTION',
    `${what} must be names of [A-Za-z0-9._-] joined by '/', without '.' or '..' segments or a leading '/', got ${describe(key)} (invalid key)`,
  );
}
