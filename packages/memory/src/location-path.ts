/**
 * A location given as a string, checked before anything is made of it. Any
 * string that is not `s3://…` is a folder, and a folder that is not the one
 * meant gets created and filled: `'~/cache'` (no shell expanded it) made a
 * folder named `~` in the working directory, `'gs://bucket/x'` or
 * `'redis://host'` a folder named `gs:` or `redis:`, and a `file://` URL
 * (which store-fs's openStore takes as its path) a folder named `file:`.
 */
import { fileURLToPath } from 'node:url';
import { badOption } from './errors.js';

const EXPECTED = "a folder path, a file:// URL or 's3://bucket/prefix'";

/** The location to open: an s3:// location as given, a file:// URL as its path, a folder path as given. */
export function locationString(location: string): string {
  if (/^s3:\/\//i.test(location)) return location;
  if (/^file:\/\//i.test(location)) {
    try {
      return fileURLToPath(location);
    } catch (error) {
      return badOption('location', `${EXPECTED} (${(error as Error).message})`, location);
    }
  }
  if (/^[a-z][a-z0-9+.-]+:\/\//i.test(location)) {
    return badOption('location', `${EXPECTED} (larder stores results in a folder or on S3; a URL of another kind would be taken as a folder of that name)`, location);
  }
  // A scheme without its '//' ('s3:/bucket', 'file:cache') is a mistyped URL, not a folder named 's3:' (a
  // one-letter drive, 'C:\\cache', stays a path). A folder whose name has a ':' is written './name:...'.
  if (/^[a-z][a-z0-9+.-]+:/i.test(location)) {
    return badOption('location', `${EXPECTED} (it starts like a URL but is not one: a mistyped URL would be taken as a folder of that name; write a relative folder whose name has a ':' as './${location}')`, location);
  }
  if (location.trim() === '' || location.includes('\0')) return badOption('location', `${EXPECTED}, not blank and without NUL`, location);
  if (location === '~' || location.startsWith('~/') || location.startsWith('~\\')) {
    return badOption('location', `${EXPECTED}; '~' is not expanded (a folder named '~' would be made in the working directory): use join(homedir(), ...) from node:os and node:path`, location);
  }
  return location;
}
