/**
 * Memory across machines, as issue 11's example: `new Memory('s3://bucket/prefix',
 * { index: 'redis://…' })`. Two "machines" are two processes with separate
 * temp folders (so separate S3 read-through caches) and only the servers in
 * common: the second hits what the first stored. clear() touches only the
 * location's prefix and the index's namespace.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Memory, type MemoryWarning } from '@larder/memory';
import { S3BlobStore } from '@larder/store-fs';
import { s3Fetch } from './s3-sign.js';
import { requireService, serviceSettings, tcpReachable, type S3Settings } from './settings.js';

const run = promisify(execFile);
const settings = serviceSettings();
const runId = `${process.pid}-${randomBytes(4).toString('hex')}`;
const bucket = `larder-memory-s3-${runId}`;
const root = fileURLToPath(new URL('../..', import.meta.url));
const execArgv = ['--conditions=larder-source', '--import', 'tsx'];
const reachable = settings.s3 !== undefined && settings.redis !== undefined && (await tcpReachable(settings.s3.endpoint)) && (await tcpReachable(settings.redis));
const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Empties the test bucket (one listing page is plenty here) and removes it (the second call finds it gone). */
async function removeBucket(s3: S3Settings): Promise<void> {
  // The query goes in `query`: in `path` its '?' would be signed and sent as part of the key.
  const listing = await (await s3Fetch(s3, { method: 'GET', path: `/${bucket}`, query: { 'list-type': '2' } })).text();
  for (const [, key] of listing.matchAll(/<Key>([^<]+)<\/Key>/g)) await s3Fetch(s3, { method: 'DELETE', path: `/${bucket}/${key}` });
  const removed = await s3Fetch(s3, { method: 'DELETE', path: `/${bucket}` });
  if (removed.status !== 204 && removed.status !== 404) throw new Error(`removing bucket ${bucket}: ${removed.status} ${await removed.text()}`);
}

function scratch(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `larder-memory-s3-${name}-`));
  dirs.push(dir);
  return dir;
}

describe('Memory on S3 with a Redis index', () => {
  it('needs S3 (radosgw) and Redis (scripts/services.sh start)', async (context) => {
    await requireService(context, 'S3 (radosgw)', settings.s3, (s3) => tcpReachable(s3.endpoint));
    await requireService(context, 'redis', settings.redis, tcpReachable);
  });

  if (!reachable) return;
  const s3 = settings.s3!;
  const index = `${settings.redis!.href}${settings.redis!.search ? '&' : '?'}namespace=t-memory-s3-${runId}`;
  const env = { ...process.env, AWS_ENDPOINT_URL_S3: s3.endpoint.href, AWS_REGION: s3.region, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };

  beforeAll(async () => {
    const response = await s3Fetch(s3, { method: 'PUT', path: `/${bucket}` });
    if (response.status !== 200) throw new Error(`creating bucket ${bucket}: ${response.status} ${await response.text()}`);
  });

  afterAll(() => removeBucket(s3));

  it('a second machine hits what the first stored (one computation), large values included', { timeout: 120_000 }, async () => {
    const marks = join(scratch('marks'), 'computed');
    const machine = (arg: number) =>
      run(process.execPath, [...execArgv, fileURLToPath(new URL('./fixtures/s3-machine.ts', import.meta.url)), `s3://${bucket}/sweeps`, index, String(arg), marks], {
        cwd: root,
        timeout: 60_000,
        env: { ...env, TMPDIR: scratch('machine') },
      });
    for (const n of [1_000, 2_000_000]) {
      // 16 MB at 2e6: above the S3 store's local-copy threshold, so the second machine fills its own copy.
      const first = JSON.parse((await machine(n)).stdout) as { length: number; sum: number };
      const second = JSON.parse((await machine(n)).stdout) as { length: number; sum: number };
      expect(second).toEqual(first);
      expect(first.length).toBe(n);
    }
    expect(readFileSync(marks, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('the s3 option carries the settings; stats come from the index; clear() removes only the prefix', { timeout: 60_000 }, async () => {
    const options = { index, s3: { endpoint: s3.endpoint.href, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, cacheDir: scratch('cache') } };
    const sibling = `/${bucket}/sweeps-other/keep.txt`;
    expect((await s3Fetch(s3, { method: 'PUT', path: sibling, body: new TextEncoder().encode('not larder') })).status).toBe(200);
    await using memory = new Memory(`s3://${bucket}/sweeps`, options);
    const twice = memory.cache((x: number) => x * 2, { name: 'twice' });
    expect(await twice(21)).toBe(42);
    expect(await twice(21)).toBe(42);
    expect(await twice.isCached(21)).toBe(true);
    const stats = await memory.stats();
    expect(stats.entries).toBeGreaterThanOrEqual(3); // twice(21), and the other test's two signals
    expect(stats.hits).toBeGreaterThanOrEqual(1);
    await memory.clear();
    expect((await memory.stats()).entries).toBe(0);
    expect(await twice.isCached(21)).toBe(false);
    expect((await s3Fetch(s3, { method: 'GET', path: sibling })).status).toBe(200);
    expect(() => new Memory(scratch('folder'), { s3: options.s3 })).toThrow(expect.objectContaining({ code: 'LARDER_OPTION' }));
  });
});

/**
 * Replacing entries on S3 (issue 11): a miss writes put-if-absent, a corrupt entry and
 * `.call()` replace only the version they saw (If-Match), a lost race is no error, and no
 * Memory's read-through copy is served once another replaced the object. Each "machine" is a
 * Memory with its own read-through cache folder and its own (in-process) leases.
 */
describe('Memory on S3: replacing entries', () => {
  if (!reachable) return;
  const s3 = settings.s3!;
  const s3Options = () => ({ endpoint: s3.endpoint.href, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, cacheDir: scratch('cache') });

  beforeAll(async () => {
    // The bucket of the describe above may be gone by now: made again (an existing one answers 409).
    await s3Fetch(s3, { method: 'PUT', path: `/${bucket}` });
  });

  const stores: S3BlobStore[] = [];
  afterAll(async () => {
    stores.forEach((store) => store.close());
    await removeBucket(s3);
  });

  function machine(prefix: string) {
    const logs: string[] = [];
    const warnings: MemoryWarning[] = [];
    const memory = new Memory(`s3://${bucket}/${prefix}`, { s3: s3Options(), verbose: 1, log: (line) => logs.push(line), onWarning: (warning) => warnings.push(warning) });
    const store = new S3BlobStore(`s3://${bucket}/${prefix}`, s3Options());
    stores.push(store);
    return { memory, store, logs, warnings };
  }

  async function entryKeys(store: S3BlobStore, folder: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const { key } of store.list(folder)) keys.push(key);
    return keys;
  }

  /** A gate both computations wait at, so both have read what is stored before either writes. */
  function gate(count: number) {
    let arrived = 0;
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return async () => {
      if (++arrived === count) open();
      await opened;
    };
  }

  it('a corrupt object is recomputed and replaced (If-Match on the version read); the next call hits', { timeout: 60_000 }, async () => {
    const prefix = `corrupt-${runId}`;
    const a = machine(prefix);
    let computed = 0;
    const body = (n: number) => ({ n, computed: ++computed });
    const f = a.memory.cache(body, { name: 'fixme' });
    expect(await f(1)).toEqual({ n: 1, computed: 1 });
    const [key] = await entryKeys(a.store, 'fixme');
    const before = await a.store.version(key!);
    expect((await s3Fetch(s3, { method: 'PUT', path: `/${bucket}/${prefix}/${key}.larder`, body: new TextEncoder().encode('not a larder value, but long enough to be read as one') })).status).toBe(200);
    const damaged = await a.store.version(key!);
    expect(damaged).not.toBe(before);
    expect(await f(1)).toEqual({ n: 1, computed: 2 });
    expect(a.warnings.map((warning) => warning.code)).toEqual(['LARDER_ENTRY_CORRUPT']);
    const replaced = await a.store.version(key!);
    expect(replaced).not.toBe(damaged);
    expect(await f(1)).toEqual({ n: 1, computed: 2 }); // a hit on the replaced entry
    const other = machine(prefix);
    expect(await other.memory.cache(body, { name: 'fixme' })(1)).toEqual({ n: 1, computed: 2 }); // another machine hits it too
    await Promise.all([a.memory.close(), other.memory.close()]);
  });

  it('two machines missing at once: the first put-if-absent stays, the other returns its own result and says so', { timeout: 60_000 }, async () => {
    const prefix = `miss-race-${runId}`;
    const [a, b] = [machine(prefix), machine(prefix)];
    const bothRead = gate(2);
    const body = (who: string) => async (n: number) => {
      await bothRead();
      return { n, who, data: new Float64Array(200_000).fill(n) };
    };
    const [fromA, fromB] = await Promise.all([a.memory.cache(body('a'), { name: 'first' })(3), b.memory.cache(body('b'), { name: 'first' })(3)]);
    expect([fromA.who, fromB.who]).toEqual(['a', 'b']); // each call returns what it computed
    const lost = [...a.logs, ...b.logs].filter((line) => line.includes('was stored by another writer'));
    expect(lost).toHaveLength(1);
    const winner = lost[0] === b.logs.find((line) => line.includes('another writer')) ? 'a' : 'b';
    const stored = (await a.store.get<{ value: { who: string; data: Float64Array } }>((await entryKeys(a.store, 'first'))[0]!))?.value;
    expect(stored?.who).toBe(winner);
    expect(stored?.data.every((x) => x === 3)).toBe(true);
    expect([...a.warnings, ...b.warnings]).toEqual([]);
    await Promise.all([a.memory.close(), b.memory.close()]);
  });

  it('.call() on two machines at once replaces one version: exactly one wins, one whole value stays, and both are returned', { timeout: 60_000 }, async () => {
    const prefix = `call-race-${runId}`;
    const [a, b] = [machine(prefix), machine(prefix)];
    let round = 0;
    const body = (who: string, ready: () => Promise<void>) => async (n: number) => {
      if (round > 0) await ready();
      return { n, who, round, data: new Float64Array(300_000).fill(round) };
    };
    let bothRead = gate(2);
    const fa = a.memory.cache(body('a', () => bothRead()), { name: 'refresh' });
    const fb = b.memory.cache(body('b', () => bothRead()), { name: 'refresh' });
    await fa(5); // round 0: the entry both refresh
    const [key] = await entryKeys(a.store, 'refresh');
    for (round = 1; round <= 3; round++) {
      bothRead = gate(2);
      const seen = await a.store.version(key!);
      const [ra, rb] = await Promise.all([fa.call(5), fb.call(5)]);
      expect([ra.value.who, rb.value.who, ra.value.round, rb.value.round]).toEqual(['a', 'b', round, round]);
      expect([ra.info.stored, rb.info.stored].filter(Boolean)).toHaveLength(1);
      const winner = ra.info.stored ? 'a' : 'b';
      const stored = (await a.store.get<{ value: { who: string; round: number; data: Float64Array } }>(key!))?.value;
      expect([stored?.who, stored?.round]).toEqual([winner, round]);
      expect(stored?.data.every((x) => x === round)).toBe(true);
      expect(await a.store.version(key!)).not.toBe(seen);
    }
    expect([...a.logs, ...b.logs].filter((line) => line.includes('was replaced or removed by another writer'))).toHaveLength(3);
    await Promise.all([a.memory.close(), b.memory.close()]);
  });

  it(".call() refreshes the entry, and no machine's read-through copy serves the replaced object", { timeout: 60_000 }, async () => {
    const prefix = `refresh-${runId}`;
    const [a, b] = [machine(prefix), machine(prefix)];
    let version = 1;
    const body = (n: number) => ({ version, data: new Float64Array(300_000).fill(n) }); // 2.4 MB: kept in the read-through cache
    const fa = a.memory.cache(body, { name: 'signal' });
    const fb = b.memory.cache(body, { name: 'signal' });
    expect((await fa(7)).version).toBe(1);
    expect((await fa(7)).version).toBe(1); // a hit: a's read-through cache now holds a copy
    expect((await fb(7)).version).toBe(1); // and b's
    version = 2;
    const { value, info } = await fb.call(7);
    expect([value.version, info.stored]).toEqual([2, true]);
    version = 3; // a hit must not compute
    expect((await fa(7)).version).toBe(2); // a's copy of version 1 is stale: the ETag check fetches version 2
    expect((await fb(7)).version).toBe(2);
    expect([...a.warnings, ...b.warnings]).toEqual([]);
    await Promise.all([a.memory.close(), b.memory.close()]);
  });
});
