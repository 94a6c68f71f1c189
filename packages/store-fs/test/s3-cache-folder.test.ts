/**
 * The S3 store's local read-through cache folder: a copy in it is served as
 * the object its name names (`<id>.<ETag hex>.larder`), so a folder others
 * can write is a folder where they answer for any object.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dumpSync } from '@larder/store-fs';
import { ReadThroughCache } from '../src/s3-cache.js';
import { tempDir } from './tmp-dir.js';

const ID = 'd1e20f3bfe4232c70889fa7977cfa77a';
const ETAG = '"0123456789abcdef"';

/** A cache folder of `mode` holding a copy planted by someone else, named for object ID at ETAG. */
function plantedFolder(mode: number): string {
  const dir = path.join(tempDir(), 'cache');
  fs.mkdirSync(dir);
  fs.chmodSync(dir, mode);
  dumpSync({ forged: true }, path.join(dir, `${ID}.${Buffer.from(ETAG).toString('hex')}.larder`));
  return dir;
}

describe.skipIf(process.getuid === undefined)('S3 cache folder', () => {
  it.each([['0777', 0o777], ['0775', 0o775], ['0722', 0o722]])('a cache folder others can write (mode %s) is LARDER_UNSAFE_PATH, and a copy planted in it is never served', async (_, mode) => {
    const cache = new ReadThroughCache(plantedFolder(mode), 1 << 30);
    const error = (await cache.lookup(ID).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('LARDER_UNSAFE_PATH');
    expect(error.message).toMatch(/is writable by (every user|its group) \(mode 7\d\d\).*chmod go-w/);
  });

  it('a folder of this user alone (0700, 0755) opens and finds its copies', async () => {
    for (const mode of [0o700, 0o755]) {
      const cache = new ReadThroughCache(plantedFolder(mode), 1 << 30);
      expect((await cache.lookup(ID))?.etag).toBe(ETAG);
    }
  });
});
