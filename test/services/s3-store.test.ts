/**
 * S3BlobStore against the radosgw of scripts/services.sh: the BlobStore
 * conformance suite, then what only S3 has: put-if-absent races between
 * clients, the ETag-keyed read-through cache after a replace by another
 * client, removePrefix staying inside its prefix, ListObjectsV2 paging,
 * ranged mapped loads, and hostile objects. One bucket for this file, made
 * here and removed at the end. Locally the tests skip when radosgw is not
 * running (saying how to start it); with CI=true that is a failure.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeLoaded, dumpSync, FormatError, MappedArray, S3BlobStore, type BlobEntry, type S3Options } from '@larder/store-fs';
import { blobStoreConformance } from '@larder/store-fs/testing';
import { s3Fetch } from './s3-sign.js';
import { requireService, serviceSettings, tcpReachable, type S3Settings } from './settings.js';

const settings = serviceSettings().s3;
const reachable = settings !== undefined && (await tcpReachable(settings.endpoint));
const runId = `${process.pid}-${randomBytes(4).toString('hex')}`;
const bucket = `larder-s3-store-${runId}`;
const otherBucket = `larder-s3-other-${runId}`;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'larder-s3-test-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
/** Objects written around the store (by "another client"), removed at the end. */
const rawObjects = new Set<string>();
const SLOW = 120_000;
const slowIt = (name: string, body: () => Promise<void>) => it(name, body, SLOW);

let stores = 0;
/** A store under a fresh prefix of this file's bucket, with a cache folder of its own unless given one. */
function freshStore(options: S3Options = {}, prefix = `t/${stores++}`, inBucket = bucket): S3BlobStore {
  const s3 = settings!;
  return new S3BlobStore(`s3://${inBucket}/${prefix}`, {
    endpoint: s3.endpoint.href,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    cacheDir: path.join(scratch, `cache-${stores++}`),
    ...options,
  });
}

async function rawPut(s3: S3Settings, inBucket: string, key: string, body: Uint8Array): Promise<void> {
  rawObjects.add(`${inBucket}/${key}`);
  const response = await s3Fetch(s3, { method: 'PUT', path: `/${inBucket}/${key}`, body });
  if (response.status !== 200) throw new Error(`raw put of ${key}: ${response.status} ${await response.text()}`);
}

async function rawExists(s3: S3Settings, inBucket: string, key: string): Promise<boolean> {
  const response = await s3Fetch(s3, { method: 'HEAD', path: `/${inBucket}/${key}` });
  return response.status === 200;
}

/** The bytes of a value as `dump` writes them. */
function dumpedBytes(value: unknown): Buffer {
  const file = path.join(scratch, `dumped-${randomBytes(4).toString('hex')}.larder`);
  dumpSync(value, file);
  const bytes = fs.readFileSync(file);
  fs.rmSync(file);
  return bytes;
}

async function keysOf(entries: AsyncIterable<BlobEntry>): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of entries) keys.push(entry.key);
  return keys.sort();
}

describe('S3 (radosgw) for S3BlobStore', () => {
  it('is running (scripts/services.sh start)', async (context) => {
    await requireService(context, 'S3 (radosgw)', settings, (s3) => tcpReachable(s3.endpoint));
  });
});

if (reachable) {
  const s3 = settings!;
  beforeAll(async () => {
    for (const name of [bucket, otherBucket]) {
      const response = await s3Fetch(s3, { method: 'PUT', path: `/${name}` });
      if (response.status !== 200) throw new Error(`creating bucket ${name}: ${response.status} ${await response.text()}`);
    }
  });

  afterAll(async () => {
    for (const name of [bucket, otherBucket]) {
      const whole = freshStore({}, '', name);
      await whole.removePrefix('');
      whole.close();
    }
    for (const object of rawObjects) await s3Fetch(s3, { method: 'DELETE', path: `/${object}` });
    for (const name of [bucket, otherBucket]) {
      const response = await s3Fetch(s3, { method: 'DELETE', path: `/${name}` });
      expect(response.status, `removing bucket ${name}: ${await response.text()}`).toBe(204);
    }
  }, SLOW);

  blobStoreConformance(() => freshStore(), {
    describe,
    it: slowIt,
    name: 'S3BlobStore (radosgw)',
    damage: (store, key) => rawPut(s3, store.bucket, `${store.prefix}/${key}.larder`, Buffer.from('not a larder value, just text long enough to look like a header maybe.....')),
    dispose: async (store) => {
      await store.removePrefix('');
      store.close();
    },
  });

  describe('S3BlobStore on radosgw', () => {
    slowIt('putIfAbsent from two clients at once (If-None-Match: *): exactly one wins, every round', async () => {
      const prefix = `race/${runId}`;
      const [a, b] = [freshStore({}, prefix), freshStore({}, prefix)];
      for (let round = 0; round < 10; round++) {
        const key = `k${round}`;
        const [first, second] = await Promise.all([a.putIfAbsent(key, { writer: 'a', round }), b.putIfAbsent(key, { writer: 'b', round })]);
        expect([first, second].filter((result) => result !== undefined)).toHaveLength(1);
        const winner = first !== undefined ? 'a' : 'b';
        expect(await a.get(key)).toEqual({ writer: winner, round });
        expect(await b.get(key)).toEqual({ writer: winner, round });
      }
      await a.removePrefix('');
      a.close();
      b.close();
    });

    slowIt('replace of one version from two clients at once (If-Match): exactly one wins, every round, and the cached copy follows', async () => {
      const prefix = `replace-race/${runId}`;
      const [a, b] = [freshStore({}, prefix), freshStore({}, prefix)];
      const big = (writer: string, round: number) => ({ writer, round, data: new Float64Array(200_000).fill(round) }); // 1.6 MB: kept in the read-through cache
      for (let round = 0; round < 6; round++) {
        const key = `k${round}`;
        await a.put(key, big('first', round));
        const seen = (await b.version(key))!;
        const [first, second] = await Promise.all([a.replace(key, big('a', round), seen), b.replace(key, big('b', round), seen)]);
        expect([first, second].filter((result) => result !== undefined)).toHaveLength(1);
        const winner = first !== undefined ? 'a' : 'b';
        expect(await b.version(key)).toBe((first ?? second)!.etag);
        // Both read the winner: the read-through cache's copy of 'first' (written through by a's put) is stale.
        for (const store of [a, b]) expect((await store.get<{ writer: string }>(key))?.writer).toBe(winner);
        for (const store of [a, b]) expect((await store.get<{ writer: string }>(key, { mmap: 'r' }))?.writer).toBe(winner);
      }
      await a.removePrefix('');
      a.close();
      b.close();
    });

    slowIt('a copy in the local cache is never served after another client replaced the object (ETag check)', async () => {
      const store = freshStore();
      const big = (n: number) => ({ n, data: new Float64Array(300_000).fill(n) }); // 2.4 MB: kept in the cache
      const put = await store.put('value', big(1));
      expect(put.etag).toMatch(/^"[^"]+"$/);
      const mapped = await store.get<{ n: number; data: Float64Array }>('value', { mmap: 'r' });
      expect(mapped?.n).toBe(1);
      closeLoaded(mapped);
      // Another client, not through this store: a raw signed PUT of the bytes of another value.
      await rawPut(s3, store.bucket, `${store.prefix}/value.larder`, dumpedBytes(big(2)));
      const eager = await store.get<{ n: number; data: Float64Array }>('value');
      expect([eager?.n, eager?.data[299_999]]).toEqual([2, 2]);
      const mappedAgain = await store.get<{ n: number; data: Float64Array }>('value', { mmap: 'r' });
      expect([mappedAgain?.n, mappedAgain?.data[299_999]]).toEqual([2, 2]);
      closeLoaded(mappedAgain);
      // And a replace through a second store with a cache of its own.
      await freshStore({}, store.prefix).put('value', big(3));
      expect((await store.get<{ n: number }>('value', { mmap: 'r' }))?.n).toBe(3);
      expect((await store.get<{ n: number }>('value'))?.n).toBe(3);
      await store.removePrefix('');
      store.close();
    });

    slowIt('a mapped load of a large object fetches it in ranges into the cache, maps the copy, and a warm load reuses it', async () => {
      const cacheDir = path.join(scratch, `mapped-${runId}`);
      const store = freshStore({ cacheDir });
      const signal = Float64Array.from({ length: 3_000_000 }, (_, i) => i * 0.5); // 24 MB: three 8 MiB ranges
      await store.put('big', { signal, label: 'big' });
      fs.rmSync(cacheDir, { recursive: true, force: true }); // cold: the write-through copy is gone
      const reader = freshStore({ cacheDir }, store.prefix);
      for (const round of ['cold', 'warm']) {
        const value = await reader.get<{ signal: Float64Array | MappedArray<Float64Array>; label: string }>('big', { mmap: 'r' });
        expect(value?.label, round).toBe('big');
        const array = value!.signal instanceof MappedArray ? value!.signal.toArray() : value!.signal;
        expect([array.length, array[0], array[2_999_999]], round).toEqual([3_000_000, 0, 2_999_999 * 0.5]);
        closeLoaded(value);
        const copies = fs.readdirSync(cacheDir).filter((name) => name.endsWith('.larder'));
        expect(copies, round).toHaveLength(1);
        expect(fs.statSync(path.join(cacheDir, copies[0]!)).size, round).toBeGreaterThan(24_000_000);
      }
      const eager = await reader.get<{ signal: Float64Array }>('big');
      expect(eager?.signal[1234]).toBe(617);
      await store.removePrefix('');
      store.close();
      reader.close();
    });

    slowIt('a mapped load while another client replaces the object gives one whole version, never ranges of two (If-Match on each range)', async () => {
      const writer = freshStore();
      const valueOf = (n: number) => ({ n, data: new Float64Array(2_500_000).fill(n) }); // 20 MB: three ranges
      await writer.put('moving', valueOf(0));
      let writing = true;
      const replacing = (async () => {
        for (let n = 1; n <= 4; n++) await writer.put('moving', valueOf(n));
        writing = false;
      })();
      let reads = 0;
      try {
        while (writing || reads < 2) {
          const reader = freshStore({}, writer.prefix); // a cold cache each time: every read fetches ranges
          const value = await reader.get<{ n: number; data: Float64Array | MappedArray<Float64Array> }>('moving', { mmap: 'r' });
          const data = value!.data instanceof MappedArray ? value!.data.toArray() : value!.data;
          expect(data.every((x) => x === value!.n), `read ${reads} mixed two versions`).toBe(true);
          closeLoaded(value);
          reader.close();
          reads++;
        }
      } finally {
        await replacing; // even after a failure: no put may land after the cleanup
        await writer.removePrefix('');
        writer.close();
      }
    });

    slowIt('requests: an eager get is one GET (no HEAD), a cold mapped get fetches 8 MiB ranges, a warm one is one GET answered 304', async () => {
      // A pass-through proxy in front of radosgw that notes each request; the signature stays valid (same Host header).
      const seen: string[] = [];
      const proxy = http.createServer((request, response) => {
        const upstream = http.request({ host: s3.endpoint.hostname, port: s3.endpoint.port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
          seen.push(`${request.method} ${request.headers.range ?? ''}${request.headers['if-none-match'] ? ' if-none-match' : ''} ${answer.statusCode}`.replace('  ', ' '));
          response.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(response);
        });
        request.pipe(upstream);
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      try {
        const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
        const store = freshStore({ endpoint });
        await store.put('small', { x: 1 });
        const { bytes } = await store.put('big', new Float64Array(2_500_000).fill(1)); // 20 MB
        seen.length = 0;
        expect(await store.get('small')).toEqual({ x: 1 });
        expect(seen).toEqual(['GET 200']);
        seen.length = 0;
        const cold = freshStore({ endpoint }, store.prefix);
        closeLoaded(await cold.get('big', { mmap: 'r' }));
        expect(seen.sort()).toEqual(['GET bytes=0-8388607 206', `GET bytes=16777216-${bytes - 1} 206`, 'GET bytes=8388608-16777215 206']);
        seen.length = 0;
        closeLoaded(await cold.get('big', { mmap: 'r' }));
        expect(seen).toEqual(['GET bytes=0-8388607 if-none-match 304']);
        await store.removePrefix('');
        store.close();
        cold.close();
      } finally {
        proxy.close();
      }
    });

    slowIt('the cache stays within cacheBytes: the least recently used copy goes', async () => {
      const cacheDir = path.join(scratch, `bounded-${runId}`);
      const store = freshStore({ cacheDir, cacheBytes: 5_000_000 });
      for (const key of ['one', 'two', 'three']) await store.put(key, new Float64Array(400_000).fill(1)); // 3.2 MB each
      const copies = fs.readdirSync(cacheDir).filter((name) => name.endsWith('.larder'));
      expect(copies).toHaveLength(1);
      expect(await store.get<Float64Array>('one')).toHaveLength(400_000);
      await store.removePrefix('');
      store.close();
    });

    slowIt('removePrefix removes only its own objects: a sibling prefix, the parent key, foreign objects and other buckets stay', async () => {
      const root = `scope-${runId}`;
      const store = freshStore({}, `${root}/a`);
      const sibling = freshStore({}, `${root}/ab`);
      const parent = freshStore({}, root);
      const elsewhere = freshStore({}, `${root}/a`, otherBucket);
      for (const target of [store, sibling, elsewhere]) for (const key of ['x', 'y/z']) await target.put(key, key);
      await parent.put('a', 'the key a beside the prefix a/');
      await rawPut(s3, bucket, `${root}/a/notes.txt`, Buffer.from('a user file under the prefix'));
      await rawPut(s3, bucket, `${root}/a/x.larder.bak`, Buffer.from('not ours either'));
      expect(await store.removePrefix('')).toBe(2);
      expect(await keysOf(store.list())).toEqual([]);
      expect(await keysOf(sibling.list())).toEqual(['x', 'y/z']);
      expect(await keysOf(elsewhere.list())).toEqual(['x', 'y/z']);
      expect(await parent.get('a')).toBe('the key a beside the prefix a/');
      expect(await rawExists(s3, bucket, `${root}/a/notes.txt`)).toBe(true);
      expect(await rawExists(s3, bucket, `${root}/a/x.larder.bak`)).toBe(true);
      for (const target of [sibling, elsewhere, parent]) {
        await target.removePrefix('');
        target.close();
      }
      store.close();
    });

    slowIt('list and removePrefix page through ListObjectsV2 (MaxKeys 7 over 120 keys)', async () => {
      const small = freshStore({ listPageSize: 7 });
      const keys = Array.from({ length: 120 }, (_, i) => `p/${i.toString(16).padStart(4, '0')}`);
      for (let i = 0; i < keys.length; i += 25) await Promise.all(keys.slice(i, i + 25).map((key) => small.put(key, key)));
      await small.put('q/outside', 1);
      expect(await keysOf(small.list('p'))).toEqual(keys);
      expect(await small.removePrefix('p')).toBe(120);
      expect(await keysOf(small.list())).toEqual(['q/outside']);
      await small.removePrefix('');
      small.close();

    });

    slowIt('hostile objects: junk, a truncated value and a large non-larder object are FormatErrors in every load mode', async () => {
      const store = freshStore();
      const whole = dumpedBytes({ data: new Float64Array(2_000_000).fill(7) }); // 16 MB
      await rawPut(s3, store.bucket, `${store.prefix}/truncated.larder`, whole.subarray(0, whole.length >> 1));
      await rawPut(s3, store.bucket, `${store.prefix}/junk.larder`, randomBytes(12 * 1024 * 1024));
      await rawPut(s3, store.bucket, `${store.prefix}/tiny.larder`, Buffer.from('x'));
      for (const key of ['truncated', 'junk', 'tiny']) {
        for (const options of [{}, { shared: true }, { mmap: 'r' as const }]) {
          const error = await store.get(key, options).catch((caught: unknown) => caught);
          expect(error, `${key} ${JSON.stringify(options)}`).toBeInstanceOf(FormatError);
          expect((error as FormatError).message).toContain(`s3://${store.bucket}/${store.prefix}`);
        }
      }
      store.close();
    });

    slowIt('a local copy damaged on disk between reads (a byte flipped, truncated) is fetched again: the right value in every load mode, never a FormatError for an intact object', async () => {
      const cacheDir = path.join(scratch, `damaged-${runId}`);
      const store = freshStore({ cacheDir });
      const value = { label: 'intact', data: Float64Array.from({ length: 400_000 }, (_, i) => i) }; // 3.2 MB: kept as a local copy
      await store.put('value', value);
      const damages: [string, (file: string) => void][] = [
        ['a byte flipped in the array', (file) => {
          const fd = fs.openSync(file, 'r+');
          const at = fs.fstatSync(fd).size - 1000;
          const byte = Buffer.alloc(1);
          fs.readSync(fd, byte, 0, 1, at);
          fs.writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, at);
          fs.closeSync(fd);
        }],
        ['truncated', (file) => fs.truncateSync(file, 5000)],
        ['junk in the header', (file) => {
          const fd = fs.openSync(file, 'r+');
          fs.writeSync(fd, Buffer.from('junk junk junk'), 0, 14, 0);
          fs.closeSync(fd);
        }],
      ];
      for (const [damage, apply] of damages) {
        for (const options of [{}, { shared: true }, { mmap: 'r' as const }]) {
          expect((await store.get<typeof value>('value', options))?.label).toBe('intact'); // a copy is there
          const copies = fs.readdirSync(cacheDir).filter((name) => name.endsWith('.larder'));
          expect(copies, damage).toHaveLength(1);
          apply(path.join(cacheDir, copies[0]!));
          const back = await store.get<typeof value>('value', options);
          expect(back?.label, `${damage} ${JSON.stringify(options)}`).toBe('intact');
          // A flipped byte in a large mapped array is not looked at by a mapped load (verify() is); the fetch-again of the others is.
          if (!('mmap' in options) || damage !== 'a byte flipped in the array') {
            const array = back!.data instanceof MappedArray ? (back!.data as MappedArray<Float64Array>).toArray() : back!.data;
            expect(array[399_874], `${damage} ${JSON.stringify(options)}`).toBe(399_874);
          }
          closeLoaded(back);
        }
      }
      await store.removePrefix('');
      store.close();
    });

    slowIt('a compressed value round-trips in every load mode (the object is the compressed file dump writes)', async () => {
      const store = freshStore();
      const value = { name: 'packed', data: new Float64Array(200_000).fill(0.5) };
      for (const compress of ['gzip', 'brotli'] as const) {
        const info = await store.put(`c/${compress}`, value, { compress });
        expect([info.compression, info.bytes < 100_000]).toEqual([compress, true]);
        for (const options of [{}, { shared: true }, { mmap: 'r' as const }]) {
          const back = await store.get<typeof value>(`c/${compress}`, options);
          expect([back?.name, back?.data.length, back?.data[199_999]], `${compress} ${JSON.stringify(options)}`).toEqual(['packed', 200_000, 0.5]);
          closeLoaded(back);
        }
      }
      await store.removePrefix('');
      store.close();
    });

    slowIt('a missing bucket is an error, not a missing key', async () => {
      const store = freshStore({}, 'x', `larder-no-such-bucket-${runId}`);
      await expect(store.get('k')).rejects.toMatchObject({ name: 'NoSuchBucket' });
      await expect(store.put('k', 1)).rejects.toMatchObject({ name: 'NoSuchBucket' });
      store.close();
    });
  });
}
