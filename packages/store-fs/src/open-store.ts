/**
 * openStore: a location (a folder path) or a store object, to a BlobStore.
 * Like joblib's store backend factory, an object is taken as it is, so a
 * user's own store needs no registry.
 */
import { fileURLToPath } from 'node:url';
import { BLOB_STORE_MEMBERS, type BlobStore } from './blob-store.js';
import { badOption, codedError } from './errors.js';
import { FolderStore } from './folder-store.js';

const EXPECTED = "a folder path, 's3://bucket/prefix' or a BlobStore object";

/**
 * The blob store at `location`: a folder path gives a {@link FolderStore};
 * a {@link BlobStore} object is returned as it is. `'s3://bucket/prefix'`
 * names S3-compatible storage, which this version does not include yet: it
 * throws `LARDER_MISSING_DRIVER` (pass your own BlobStore object meanwhile).
 *
 * @example
 * ```ts
 * import { openStore } from '@larder/store-fs';
 * const store = openStore('/tmp/larder-open');
 * openStore(store) === store; // true
 * ```
 */
export function openStore(location: string): FolderStore;
export function openStore<S extends BlobStore>(location: S): S;
export function openStore(location: string | BlobStore): BlobStore;
export function openStore(location: string | BlobStore): BlobStore {
  if (typeof location === 'string') {
    if (/^s3:\/\//i.test(location)) {
      throw codedError(
        Error,
        'LARDER_MISSING_DRIVER',
        `S3 blob stores (${location}) are not available in this version of @larder/store-fs; use a folder (a shared mount works across machines) or pass your own BlobStore object`,
      );
    }
    if (/^file:\/\//i.test(location)) return new FolderStore(fileURLToPath(location));
    if (/^[a-z][a-z0-9+.-]+:\/\//i.test(location)) throw badOption('location', EXPECTED, location);
    return new FolderStore(location);
  }
  if (location === null || typeof location !== 'object') throw badOption('location', EXPECTED, location);
  const missing = BLOB_STORE_MEMBERS.filter((member) => typeof (location as unknown as Record<string, unknown>)[member] !== 'function');
  if (missing.length > 0) {
    throw badOption('location', `${EXPECTED} (an object needs the methods ${BLOB_STORE_MEMBERS.join(', ')}; this one lacks ${missing.join(', ')})`, location);
  }
  if (typeof location.description !== 'string') throw badOption('location.description', 'a string that says where the values live', location.description);
  return location;
}
