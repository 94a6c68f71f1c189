/**
 * openStore: a location (a folder path) or a store object, to a BlobStore.
 * Like joblib's store backend factory, an object is taken as it is, so a
 * user's own store needs no registry.
 */
import { fileURLToPath } from 'node:url';
import { BLOB_STORE_MEMBERS, type BlobStore } from './blob-store.js';
import { badOption } from './errors.js';
import { checkNames } from './options.js';
import { FolderStore } from './folder-store.js';
import { S3BlobStore } from './s3-store.js';
import type { S3Options } from './s3-settings.js';

const EXPECTED = "a folder path, 's3://bucket/prefix' or a BlobStore object";

/** What openStore takes besides the location. */
export interface OpenStoreOptions {
  /**
   * Settings of an `'s3://bucket/prefix'` location (endpoint, region,
   * credentials, path style, local cache); ignored for a folder.
   * @default the AWS_* environment (see {@link S3Options})
   */
  s3?: S3Options;
}

/**
 * The blob store at `location`: a folder path (or `file://` URL) gives a
 * {@link FolderStore}, `'s3://bucket/prefix'` an {@link S3BlobStore} (settings
 * from `options.s3` or the AWS_* environment; @aws-sdk/client-s3 is loaded on
 * first use), and a {@link BlobStore} object is returned as it is.
 *
 * @example
 * ```ts
 * import { openStore } from '@larder/store-fs';
 * const store = openStore('/tmp/larder-open');
 * openStore(store) === store; // true
 * const remote = openStore('s3://sweeps/larder', { s3: { endpoint: 'http://127.0.0.1:17480' } });
 * console.log(remote.description); // s3://sweeps/larder
 * ```
 */
export function openStore(location: `s3://${string}`, options?: OpenStoreOptions): S3BlobStore;
export function openStore(location: string, options?: OpenStoreOptions): FolderStore;
export function openStore<S extends BlobStore>(location: S, options?: OpenStoreOptions): S;
export function openStore(location: string | BlobStore, options?: OpenStoreOptions): BlobStore;
export function openStore(location: string | BlobStore, options?: OpenStoreOptions): BlobStore {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw badOption('options', 'an object such as { s3 }', options);
  // A misspelt 's3' (S3, s3Options) would open the store with the environment's settings without a word.
  if (options !== undefined) checkNames('openStore(location, options)', options, ['s3']);
  if (typeof location === 'string') {
    if (/^s3:\/\//i.test(location)) return new S3BlobStore(location, options?.s3);
    if (/^file:\/\//i.test(location)) {
      let folder: string;
      try {
        folder = fileURLToPath(location);
      } catch (error) {
        throw badOption('location', `${EXPECTED} (${(error as Error).message})`, location); // a host, an encoded '/'
      }
      return new FolderStore(folder);
    }
    if (/^[a-z][a-z0-9+.-]+:\/\//i.test(location)) throw badOption('location', EXPECTED, location);
    // A scheme without its '//' ('s3:/bucket', 'file:cache') is a mistyped URL, not a folder named 's3:'
    // (a one-letter drive, 'C:\\data', stays a path). A folder whose name has a ':' is written './name:...'.
    if (/^[a-z][a-z0-9+.-]+:/i.test(location)) throw badOption('location', `${EXPECTED} (it starts like a URL but is not one; write a relative folder whose name has a ':' as './${location}')`, location);
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
