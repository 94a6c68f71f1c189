/**
 * The stores a larder-worker lets its jobs use (`--store`, repeatable). A
 * job is data anyone able to write the queue's Redis can forge, and a store
 * is where the worker writes (arguments read, results and replies put): a
 * worker that opened whatever location a job names would create files in any
 * folder it can write, or objects in any bucket its credentials reach. So a
 * job's store is matched against the worker's own list and the worker opens
 * the listed location, never the job's string.
 */
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore, type BlobStore } from '@larder/store-fs';
import { badOption, ParallelError } from './errors.js';

const S3_LOCATION = /^s3:\/\//i;

/** The stores one worker serves, each opened once, on first use. */
export class StoreAllowlist {
  /** As given (folders resolved), in order: what messages show. */
  readonly locations: readonly string[];
  readonly #opened = new Map<string, BlobStore>();

  /** `locations`: folder paths (or file:// URLs) and 's3://bucket/prefix' locations. `name` says which option they came from. */
  constructor(name: string, locations: unknown) {
    if (!Array.isArray(locations)) badOption(name, "an array of folder paths and 's3://bucket/prefix' locations", locations);
    this.locations = (locations as unknown[]).map((location, i) => {
      if (typeof location !== 'string' || location === '' || location.includes('\0')) badOption(`${name}[${i}]`, "a folder path or 's3://bucket/prefix'", location);
      let store: BlobStore;
      try {
        // Validated the way a pool's `store` is (bucket name, prefix segments); opening connects to nothing.
        store = openStore(location as string);
      } catch (error) {
        throw new ParallelError('LARDER_OPTION', `${name} ${JSON.stringify(location)}: ${(error as Error).message.replace(/^\[larder\/[a-z-]+\] /, '')}`);
      }
      return S3_LOCATION.test(location as string) ? store.description : store.description.replace(/^folder /, '');
    });
  }

  /**
   * The store a job names, if this worker serves it: a folder compared after
   * resolving `..` and symlinks (of each side, at each job: a folder created
   * or re-linked since start is judged as it is now), an S3 location after
   * normalizing. Anything else is LARDER_REMOTE saying how to allow it, and
   * nothing is opened.
   */
  open(location: unknown): BlobStore {
    if (typeof location !== 'string' || location === '' || location.includes('\0')) {
      throw new ParallelError('LARDER_REMOTE', `the job names the store ${JSON.stringify(location)}, which is not a store location; it was not opened`);
    }
    const wanted = canonical(location);
    const allowed = wanted === undefined ? undefined : this.locations.find((entry) => canonical(entry) === wanted);
    if (allowed === undefined) throw this.#refusal(location);
    let store = this.#opened.get(allowed);
    if (!store) this.#opened.set(allowed, (store = openStore(allowed)));
    return store;
  }

  #refusal(location: string): ParallelError {
    const served = this.locations.length === 0 ? 'it serves no store' : `it serves only ${this.locations.map((entry) => `--store ${entry}`).join(', ')}`;
    return new ParallelError(
      'LARDER_REMOTE',
      `the job names the store ${JSON.stringify(location)}, which this larder-worker was not started with (${served}); it was not opened. To let the pool use it, start larder-worker with --store ${location}`,
    );
  }
}

/** How two spellings of one store compare equal; undefined for what is no store location. */
function canonical(location: string): string | undefined {
  if (S3_LOCATION.test(location)) {
    const match = /^s3:\/\/([^/?#]*)(?:\/([^?#]*))?$/i.exec(location);
    return match ? `s3://${match[1]}${match[2] ? `/${match[2].replace(/\/$/, '')}` : ''}` : undefined;
  }
  if (/^file:\/\//i.test(location)) {
    try {
      location = fileURLToPath(location);
    } catch {
      return undefined;
    }
  } else if (/^[a-z][a-z0-9+.-]+:\/\//i.test(location)) return undefined;
  return realFolder(resolve(location));
}

/** `folder` with symlinks resolved as far as it exists (a store's folder is created by its first put). */
function realFolder(folder: string): string {
  if (existsSync(folder)) {
    try {
      return realpathSync.native(folder);
    } catch {
      // unreadable on the way: judged by its resolved path
    }
  }
  const parent = dirname(folder);
  return parent === folder ? folder : resolve(realFolder(parent), basename(folder));
}
