/**
 * The BlobStore conformance suite, as a function of a store factory (the way
 * keyv ships @keyv/test-suite), so every store in the repo and a user's own
 * run the same tests. It takes the test runner's `describe` and `it` and
 * asserts with node:assert, so it runs under vitest, node:test, mocha or
 * jest, and no test framework is a dependency of store-fs.
 */
import assert from 'node:assert/strict';
import { BLOB_STORE_MEMBERS, isLocalBlobStore, type BlobEntry, type BlobStore } from './blob-store.js';
import { FormatError } from './errors.js';
import { MappedArray } from './mapped-array.js';
import { closeLoaded } from './mapped-load.js';
import type { LoadOptions } from './options.js';

/**
 * What every larder conformance suite needs from a test runner (this one, and
 * @larder/memory/testing's index and lease suites, which share the shape
 * `xxxConformance(factory, { describe, it, expect?, name?, ...capabilities })`):
 * vitest's, node:test's, mocha's and jest's `describe` and `it` fit as they are.
 */
export interface ConformanceRunner {
  describe: (name: string, body: () => void) => unknown;
  /** `timeoutMs` (third argument) is given to slow tests: vitest, jest and node:test's `it` take it there or ignore it. */
  it: (name: string, body: () => Promise<void>, timeoutMs?: number) => unknown;
}

export interface ConformanceOptions<S extends BlobStore> extends ConformanceRunner {
  /**
   * Names the suite in the report.
   * @default none (the suite is titled by what it tests)
   */
  name?: string;
  /**
   * Damages the stored bytes of `key` (overwrites them with bytes that are
   * not a larder value), so the suite can check that reading them is a
   * FormatError. Without it that test is not registered.
   */
  damage?: (store: S, key: string) => Promise<void> | void;
  /**
   * Called after each test with the store it made (close a connection,
   * remove a folder).
   * @default nothing
   */
  dispose?: (store: S) => Promise<void> | void;
}

const LOAD_MODES: [string, LoadOptions][] = [
  ['eager', {}],
  ['shared', { shared: true }],
  ['mapped', { mmap: 'r', mmapThreshold: 0 }],
];

/** Keys no store accepts: empty, absolute, parent, '.', empty segment, trailing '/', outside [A-Za-z0-9._-], not a string. */
const INVALID_KEYS: unknown[] = ['', '/abs', 'a//b', '..', '../x', 'a/../b', '.', 'a/./b', 'sp ace', 'a\\b', 'trailing/', 'x\0y', 'é', 5, undefined, null];

/**
 * Registers the conformance tests of a {@link BlobStore} implementation.
 * `factory` makes a fresh, empty store for each test.
 *
 * @example
 * ```ts
 * // folder-store.test.ts, run by vitest
 * import { mkdtempSync, writeFileSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * import { describe, it } from 'vitest';
 * import { FolderStore } from '@larder/store-fs';
 * import { blobStoreConformance } from '@larder/store-fs/testing';
 *
 * blobStoreConformance(() => new FolderStore(mkdtempSync(join(tmpdir(), 'my-store-'))), {
 *   describe,
 *   it,
 *   damage: (store, key) => writeFileSync(store.pathOf(key), 'not a larder value'),
 * });
 * ```
 */
export function blobStoreConformance<S extends BlobStore>(factory: () => S | Promise<S>, options: ConformanceOptions<S>): void {
  const { describe, it, damage, dispose } = options;
  if (typeof factory !== 'function') throw new TypeError('[larder/store-fs] blobStoreConformance(factory, options): factory must be a function that makes a fresh store');
  if (typeof describe !== 'function' || typeof it !== 'function') throw new TypeError("[larder/store-fs] blobStoreConformance(factory, options): pass your test runner's describe and it");

  /** Runs `body` with a fresh store, disposing of it after. */
  const test = (name: string, body: (store: S) => Promise<void>) =>
    it(name, async () => {
      const store = await factory();
      try {
        await body(store);
      } finally {
        await dispose?.(store);
      }
    });

  describe(`BlobStore conformance${options.name === undefined ? '' : `: ${options.name}`}`, () => {
    test('describes itself with a non-empty description', async (store) => {
      assert.equal(typeof store.description, 'string');
      assert.ok(store.description.length > 0);
    });

    for (const [mode, load] of LOAD_MODES) {
      test(`a value round-trips through put and get (${mode})`, async (store) => {
        const value = { name: 'run', steps: [1, 2, 3], big: 12n, signal: Float64Array.from({ length: 5000 }, (_, i) => i / 3), when: new Date(0) };
        const info = await store.put('round/trip', value);
        assert.ok(info.bytes > 0, 'put reports the stored size');
        const back = await store.get<typeof value>('round/trip', load);
        assert.ok(back !== undefined);
        try {
          const signal = back.signal as Float64Array | MappedArray<Float64Array>;
          const array = signal instanceof MappedArray ? signal.toArray() : signal;
          assert.deepEqual({ ...back, signal: Float64Array.from(array) }, value);
          if (mode === 'shared') assert.ok(back.signal.buffer instanceof SharedArrayBuffer, 'shared: typed arrays on a SharedArrayBuffer');
        } finally {
          closeLoaded(back);
        }
      });
    }

    test('get of a key never put is undefined, has is false, delete is false', async (store) => {
      assert.equal(await store.get('absent/key'), undefined);
      assert.equal(await store.get('absent/key', { mmap: 'r' }), undefined);
      assert.equal(await store.has('absent/key'), false);
      assert.equal(await store.delete('absent/key'), false);
      if (isLocalBlobStore(store)) {
        assert.equal(store.getSync('absent/key'), undefined);
        assert.equal(store.sizeSync('absent/key'), undefined);
      }
    });

    test('put replaces the value; has and delete report presence', async (store) => {
      await store.put('k', 'first');
      const { bytes } = await store.put('k', 'second');
      assert.equal(await store.get('k'), 'second');
      if (isLocalBlobStore(store)) assert.equal(store.sizeSync('k'), bytes, 'sizeSync: the stored size put reported');
      assert.equal(await store.has('k'), true);
      assert.equal(await store.delete('k'), true);
      assert.equal(await store.has('k'), false);
      assert.equal(await store.get('k'), undefined);
      assert.equal(await store.delete('k'), false);
    });

    test('deleteMany (where a store has it) removes the keys given, counting those that held a value', async (store) => {
      if (store.deleteMany === undefined) return;
      for (const key of ['many/a', 'many/b', 'many/c', 'many/d']) await store.put(key, key);
      assert.equal(await store.deleteMany(['many/a', 'many/c', 'many/absent', 'many/c']), 2);
      assert.deepEqual(await Promise.all(['many/a', 'many/b', 'many/c', 'many/d'].map((key) => store.has(key))), [false, true, false, true]);
      assert.equal(await store.deleteMany([]), 0);
    });

    test('putIfAbsent writes only into an empty key and reports whether it wrote', async (store) => {
      const first = await store.putIfAbsent('once', 'first');
      assert.ok(first !== undefined && first.bytes > 0);
      assert.equal(await store.putIfAbsent('once', 'second'), undefined);
      assert.equal(await store.get('once'), 'first');
      await store.delete('once');
      assert.ok((await store.putIfAbsent('once', 'third')) !== undefined, 'a deleted key is empty again');
      assert.equal(await store.get('once'), 'third');
    });

    test('concurrent putIfAbsent calls on one key: exactly one writes, and its value is stored', async (store) => {
      for (let round = 0; round < 5; round++) {
        const key = `race/r${round}`;
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.putIfAbsent(key, { writer: i, pad: new Float64Array(2000).fill(i) })));
        const winners = results.flatMap((result, i) => (result === undefined ? [] : [i]));
        assert.equal(winners.length, 1, `round ${round}: ${winners.length} writers won`);
        assert.equal((await store.get<{ writer: number }>(key))?.writer, winners[0]);
      }
    });

    test('version: undefined for an empty key, a string that changes with every put and replace, unchanged by reads', async (store) => {
      assert.equal(await store.version('v/k'), undefined);
      await store.put('v/k', 'first');
      const first = await store.version('v/k');
      assert.equal(typeof first, 'string');
      assert.ok(first !== '');
      await store.get('v/k');
      assert.equal(await store.version('v/k'), first, 'a read leaves the version');
      await store.put('v/k', 'second');
      const second = await store.version('v/k');
      assert.notEqual(second, first, 'a put makes a new version');
      const replaced = await store.replace('v/k', 'third', second!);
      assert.ok(replaced !== undefined && replaced.bytes > 0, 'replace of the current version writes');
      assert.notEqual(await store.version('v/k'), second, 'a replace makes a new version');
      await store.delete('v/k');
      assert.equal(await store.version('v/k'), undefined);
    });

    test('replace writes only over the version given: a stale version gives undefined and leaves the value', async (store) => {
      await store.put('cas', 'one');
      const seen = (await store.version('cas'))!;
      await store.put('cas', 'two'); // another writer, after `seen` was read
      assert.equal(await store.replace('cas', 'three', seen), undefined);
      assert.equal(await store.get('cas'), 'two');
      const now = (await store.version('cas'))!;
      assert.ok((await store.replace('cas', 'four', now)) !== undefined);
      assert.equal(await store.get('cas'), 'four');
      assert.equal(await store.replace('cas', 'five', now), undefined, 'a version is replaced once');
      assert.equal(await store.get('cas'), 'four');
    });

    test('replace of a vanished key gives undefined and writes nothing', async (store) => {
      await store.put('gone', { x: 1 });
      const seen = (await store.version('gone'))!;
      await store.delete('gone');
      assert.equal(await store.replace('gone', { x: 2 }, seen), undefined);
      assert.equal(await store.get('gone'), undefined);
      assert.equal(await store.has('gone'), false);
    });

    test('concurrent replaces of one version: exactly one writes, and its value is stored', async (store) => {
      for (let round = 0; round < 5; round++) {
        const key = `replace-race/r${round}`;
        await store.put(key, { writer: -1 });
        const seen = (await store.version(key))!;
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.replace(key, { writer: i, pad: new Float64Array(2000).fill(i) }, seen)));
        const winners = results.flatMap((result, i) => (result === undefined ? [] : [i]));
        assert.equal(winners.length, 1, `round ${round}: ${winners.length} replaces won`);
        assert.equal((await store.get<{ writer: number }>(key))?.writer, winners[0]);
      }
    });

    test('replace without a version string is a TypeError with code LARDER_OPTION', async (store) => {
      await store.put('k', 1);
      for (const version of ['', undefined, 5, null]) {
        await assert.rejects(async () => store.replace('k', 2, version as string), (error: Error & { code?: unknown }) => {
          assert.ok(error instanceof TypeError, `replace(k, 2, ${String(version)}): a TypeError`);
          assert.equal(error.code, 'LARDER_OPTION');
          return true;
        });
      }
      assert.equal(await store.get('k'), 1);
    });

    test('a replace is atomic: concurrent readers see a whole old or a whole new value, never a part or nothing', async (store) => {
      const valueOf = (n: number) => ({ n, data: new Float64Array(50_000).fill(n) });
      await store.put('atomic', valueOf(0));
      let writing = true;
      const writer = (async () => {
        for (let n = 1; n <= 10; n++) await store.put('atomic', valueOf(n));
        writing = false;
      })();
      let reads = 0;
      while (writing || reads === 0) {
        const read = await store.get<ReturnType<typeof valueOf>>('atomic');
        assert.ok(read !== undefined, 'a key being replaced is never absent');
        assert.ok(read.data.every((x) => x === read.n), `a read mixed two values (n = ${read.n})`);
        reads++;
      }
      await writer;
      assert.equal((await store.get<ReturnType<typeof valueOf>>('atomic'))?.n, 10);
    });

    test("list streams the values under a prefix, with sizes and times; 'a' never lists 'ab/...' nor 'a' itself", async (store) => {
      const before = Date.now() - 60_000;
      for (const key of ['a', 'a/x', 'a/y/z', 'ab/w', 'b/a/x']) await store.put(key, key);
      const listing = store.list('a');
      assert.equal(typeof listing[Symbol.asyncIterator], 'function', 'list gives an async iterable');
      const under = await collect(listing);
      assert.deepEqual(under.map((entry) => entry.key).sort(), ['a/x', 'a/y/z']);
      for (const entry of under) {
        assert.ok(Number.isInteger(entry.bytes) && entry.bytes > 0, `${entry.key}: bytes`);
        assert.ok(entry.mtimeMs > before && entry.mtimeMs < Date.now() + 60_000, `${entry.key}: mtimeMs`);
      }
      assert.deepEqual((await keysOf(store.list('a/'))), ['a/x', 'a/y/z'], "a trailing '/' means the same prefix");
      assert.deepEqual(await keysOf(store.list('ab')), ['ab/w']);
      assert.deepEqual(await keysOf(store.list('a/y')), ['a/y/z']);
      assert.deepEqual(await keysOf(store.list('')), ['a', 'a/x', 'a/y/z', 'ab/w', 'b/a/x']);
      assert.deepEqual(await keysOf(store.list()), ['a', 'a/x', 'a/y/z', 'ab/w', 'b/a/x']);
      assert.deepEqual(await keysOf(store.list('missing')), []);
    });

    test('list can be left early and lists many keys in one folder', async (store) => {
      await Promise.all(Array.from({ length: 300 }, (_, i) => store.put(`many/${i.toString(16).padStart(16, '0')}`, i)));
      let seen = 0;
      for await (const _ of store.list('many')) if (++seen === 10) break;
      assert.equal(seen, 10);
      const keys = await keysOf(store.list('many'));
      assert.equal(keys.length, 300);
      assert.equal(new Set(keys).size, 300, 'no key listed twice');
    });

    test('removePrefix removes exactly the values list(prefix) lists and says how many', async (store) => {
      for (const key of ['a', 'a/x', 'a/y/z', 'ab/w']) await store.put(key, key);
      assert.equal(await store.removePrefix('a'), 2);
      assert.deepEqual(await keysOf(store.list('')), ['a', 'ab/w']);
      assert.equal(await store.get('ab/w'), 'ab/w');
      assert.equal(await store.removePrefix('a'), 0);
      await store.put('a/again', 1);
      assert.equal(await store.get('a/again'), 1, 'a removed prefix takes new values');
      assert.equal(await store.removePrefix(''), 3);
      assert.deepEqual(await keysOf(store.list()), []);
    });

    test('an invalid key or prefix is a TypeError with code LARDER_OPTION, for every member', async (store) => {
      for (const key of INVALID_KEYS) {
        const calls: [string, () => unknown][] = [
          ['get', () => store.get(key as string)],
          ['put', () => store.put(key as string, 1)],
          ['putIfAbsent', () => store.putIfAbsent(key as string, 1)],
          ['version', () => store.version(key as string)],
          ['replace', () => store.replace(key as string, 1, 'any-version')],
          ['has', () => store.has(key as string)],
          ['delete', () => store.delete(key as string)],
        ];
        // '' is every key and 'trailing/' the prefix 'trailing': both valid prefixes.
        if (key !== '' && key !== 'trailing/' && key !== undefined) {
          calls.push(['list', () => collect(store.list(key as string))], ['removePrefix', () => store.removePrefix(key as string)]);
        }
        if (isLocalBlobStore(store)) calls.push(['getSync', () => store.getSync(key as string)], ['sizeSync', () => store.sizeSync(key as string)], ['putSync', () => store.putSync(key as string, 1)], ['pathOf', () => store.pathOf(key as string)]);
        for (const [member, call] of calls) {
          await assert.rejects(async () => call(), (error: Error & { code?: unknown }) => {
            assert.ok(error instanceof TypeError, `${member}(${String(key)}): a TypeError`);
            assert.equal(error.code, 'LARDER_OPTION', `${member}(${String(key)})`);
            return true;
          });
        }
      }
      assert.deepEqual(await keysOf(store.list()), [], 'nothing was written');
    });

    if (damage !== undefined) {
      test('damaged bytes are a FormatError (code LARDER_FORMAT), not a missing key', async (store) => {
        await store.put('damaged/k', { x: new Float64Array(100) });
        await damage(store, 'damaged/k');
        for (const [mode, load] of LOAD_MODES) {
          await assert.rejects(store.get('damaged/k', load), (error: Error & { code?: unknown }) => {
            assert.equal(error.code, 'LARDER_FORMAT', mode);
            assert.ok(error instanceof FormatError, mode);
            return true;
          });
        }
        assert.equal(await store.has('damaged/k'), true);
        assert.equal(await store.delete('damaged/k'), true);
      });
    }

    test('keys with many segments, dots, dashes and underscores round-trip', async (store) => {
      const keys = ['x', 'deep/er/and/deeper/key', 'v1.2.3/run_7-final', '.hidden/.x', '0123456789abcdef/fedcba9876543210', 'A/B'];
      for (const key of keys) await store.put(key, key);
      for (const key of keys) assert.equal(await store.get(key), key);
      assert.deepEqual(await keysOf(store.list()), [...keys].sort());
    });
  });
}

async function collect(entries: AsyncIterable<BlobEntry>): Promise<BlobEntry[]> {
  const out: BlobEntry[] = [];
  for await (const entry of entries) out.push(entry);
  return out;
}

async function keysOf(entries: AsyncIterable<BlobEntry>): Promise<string[]> {
  return (await collect(entries)).map((entry) => entry.key).sort();
}

/** How many times each BlobStore member was called, as {@link throughInterface} counts them. */
export type MemberCalls = Record<(typeof BLOB_STORE_MEMBERS)[number], number>;

/**
 * `store` seen only through the BlobStore interface, as a remote store is: its members and
 * none of a LocalBlobStore's synchronous ones (so a cache on it takes the path it takes on S3),
 * each call counted in `calls`. For tests of code that takes any BlobStore.
 *
 * @example
 * ```ts
 * import { openStore } from '@larder/store-fs';
 * import { throughInterface } from '@larder/store-fs/testing';
 * const store = throughInterface(openStore('/tmp/larder-blobs'));
 * await store.put('k', 1);
 * console.log(store.calls.put); // 1
 * ```
 */
export function throughInterface(store: BlobStore, description = `plain ${store.description}`): BlobStore & { calls: MemberCalls } {
  const calls = Object.fromEntries(BLOB_STORE_MEMBERS.map((member) => [member, 0])) as MemberCalls;
  const plain: Record<string, unknown> = { description, calls };
  for (const member of BLOB_STORE_MEMBERS) {
    const call = store[member] as (...args: unknown[]) => unknown;
    plain[member] = (...args: unknown[]) => {
      calls[member]++;
      return call.apply(store, args);
    };
  }
  return plain as unknown as BlobStore & { calls: MemberCalls };
}
