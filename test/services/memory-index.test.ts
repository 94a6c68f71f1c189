/**
 * Memory's index on the real Redis and PostgreSQL of scripts/services.sh: the
 * IndexStore conformance suite, counters from two processes, namespaces that
 * leave other keys alone, and a cached call that still returns its value when
 * the index server is unreachable. Run with `pnpm test:services`; without the
 * servers each test skips saying why (CI=true: fails).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Memory, MemoryError, PostgresIndexStore, RedisIndexStore, type IndexStore, type MemoryWarning } from '@larder/memory';
import { indexStoreConformance } from '@larder/memory/testing';
import { requireService, serviceSettings, tcpReachable } from './settings.js';
import { postgresQuery, redisCommands } from './wire.js';

const run = promisify(execFile);
const settings = serviceSettings();
const runId = `${process.pid}-${randomBytes(4).toString('hex')}`;
/** A fresh namespace of this file and run. */
let counter = 0;
const namespace = () => `t-index-${runId}-${counter++}`;
const root = fileURLToPath(new URL('../..', import.meta.url));
const child = fileURLToPath(new URL('./fixtures/index-increments.ts', import.meta.url));

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'larder-remote-index-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const redisUp = settings.redis !== undefined && (await tcpReachable(settings.redis));
const postgresUp = settings.postgres !== undefined && (await tcpReachable(settings.postgres));
const api = { describe, it, expect };

type Server = { name: 'redis' | 'postgres'; up: boolean; url: URL | undefined; open: (namespace: string) => IndexStore };
const servers: Server[] = [
  { name: 'redis', up: redisUp, url: settings.redis, open: (ns) => RedisIndexStore.open({ url: settings.redis!.href, namespace: ns }) },
  { name: 'postgres', up: postgresUp, url: settings.postgres, open: (ns) => PostgresIndexStore.open({ url: settings.postgres!.href, namespace: ns }) },
];

for (const server of servers) {
  if (!server.up) {
    it(`IndexStore conformance: ${server.name} (needs the server)`, async (context) => void (await requireService(context, server.name, server.url, tcpReachable)));
    continue;
  }
  indexStoreConformance(async () => server.open(namespace()), {
    ...api,
    name: `${server.name} (namespace per test)`,
    reopen: async (store) => server.open((store as RedisIndexStore | PostgresIndexStore).namespace),
  });

  describe(`${server.name} index`, () => {
    it(`index: when ${server.name} goes away mid-run, calls keep returning values (one warning) and the waiting records are written once it is back`, async (context) => {
      const url = await requireService(context, server.name, server.url, tcpReachable);
      const proxy = await tcpProxy(url);
      const through = new URL(url.href);
      through.port = String(proxy.port);
      through.searchParams.set('namespace', namespace());
      const warnings: MemoryWarning[] = [];
      const memory = new Memory(tempDir(), { index: through.href, flushIntervalMs: Infinity, onWarning: (w) => warnings.push(w) });
      try {
        let calls = 0;
        const f = memory.cache((x: number) => (calls++, x * 10), { name: 'tenfold' });
        expect(await f(1)).toBe(10);
        expect((await memory.stats()).entries).toBe(1);
        await proxy.stop(); // the server is gone: connections cut, nothing listens
        expect(await f(2)).toBe(20);
        expect(await f(1)).toBe(10);
        expect(calls).toBe(2); // the hit still reads the folder store
        expect((await memory.stats()).entries).toBe(0); // warns, answers empty
        expect(warnings.map((w) => w.code)).toEqual(['LARDER_INDEX']);
        await proxy.start();
        await sleep(1_200); // past the fail-fast pause after a failed connect
        const stats = await memory.stats();
        expect(stats).toMatchObject({ entries: 2, hits: 1, misses: 2 });
        expect(warnings).toHaveLength(1);
        await memory.clear();
      } finally {
        await memory.close();
        await proxy.stop();
      }
    }, 60_000);

    it(`index: two child processes × 300 increments end at 600 on ${server.name} (atomic increments)`, async (context) => {
      const url = await requireService(context, server.name, server.url, tcpReachable);
      const ns = namespace();
      await Promise.all([1, 2].map(() => run(process.execPath, ['--conditions=larder-source', '--import', 'tsx', child, server.name, url.href, ns, '300'], { cwd: root, timeout: 120_000 })));
      const index = server.open(ns);
      try {
        const [entry] = await index.getEntries([`f/${'a'.repeat(16)}/${'0'.repeat(16)}`]);
        expect(entry?.hits).toBe(600);
        expect((await index.functions())[0]).toMatchObject({ hits: 600, misses: 0, computeTimeSavedMs: 600 });
      } finally {
        await index.clear();
        await index.close();
      }
    }, 180_000);

    it(`index: clear(), clearFunction(), reduceSize() and clearStale() on ${server.name} touch only the location's namespace`, async (context) => {
      const url = await requireService(context, server.name, server.url, tcpReachable);
      const location = tempDir();
      const other = tempDir();
      const ns = namespace();
      const uri = `${url.href}${url.search ? '&' : '?'}namespace=${ns}`;
      const foreign = await seedForeign(server.name, url, ns);
      try {
        // Another location on the same server: its own namespace, derived from its path.
        const neighbour = new Memory(other, { index: url.href, onWarning: (w) => { throw w; } });
        const square = (x: number) => x * x;
        await neighbour.cache(square, { name: 'square' })(3);
        await neighbour.close();

        const memory = new Memory(location, { index: uri, onWarning: (w) => { throw w; } });
        const f = memory.cache(square, { name: 'square' });
        for (let i = 0; i < 5; i++) await f(i);
        expect((await memory.stats()).entries).toBe(5);
        expect((await memory.reduceSize({ itemsLimit: 2 })).removed).toBe(3);
        expect(await memory.clearStale()).toEqual({ removed: 0, freedBytes: 0 });
        expect(await memory.clearFunction('square')).toBe(2);
        await f(1);
        await memory.clear();
        expect((await memory.stats()).entries).toBe(0);
        await memory.close();

        await foreign.check();
        const again = new Memory(other, { index: url.href });
        expect((await again.stats()).perFunction.square).toMatchObject({ entries: 1, misses: 1 });
        await again.clear();
        await again.close();
      } finally {
        await foreign.cleanup();
      }
    }, 60_000);
  });
}

/**
 * Data of other programs on the server of the index: for Redis, BullMQ-like keys in the same
 * database and a key of a namespace next to ours; for Postgres, a table of its own and rows of
 * another namespace in larder's tables.
 */
async function seedForeign(name: 'redis' | 'postgres', url: URL, ns: string): Promise<{ check(): Promise<void>; cleanup(): Promise<void> }> {
  if (name === 'redis') {
    const keys = [`bull:${runId}:sweep:1`, `bull:${runId}:sweep:meta`, `larder:{${ns}x}:fn`, `larder:${ns}`];
    await redisCommands(url, keys.map((key) => ['HSET', key, 'field', 'keep me']));
    return {
      async check() {
        expect(await redisCommands(url, keys.map((key) => ['HGET', key, 'field']))).toEqual(keys.map(() => 'keep me'));
      },
      async cleanup() {
        await redisCommands(url, [['DEL', ...keys]]);
      },
    };
  }
  const table = `larder_foreign_${runId.replace(/-/g, '_')}`;
  await postgresQuery(url, `CREATE TABLE ${table} (id int); INSERT INTO ${table} VALUES (1)`);
  const neighbour = PostgresIndexStore.open({ url: url.href, namespace: `${ns}x` });
  await neighbour.apply({ functions: [{ folder: 'square', name: 'square', hits: 1, misses: 1, computeTimeSavedMs: 0 }] });
  return {
    async check() {
      expect((await postgresQuery(url, `SELECT count(*) FROM ${table}`)).rows).toEqual([['1']]);
      expect(await neighbour.functions()).toHaveLength(1);
    },
    async cleanup() {
      await neighbour.clear();
      await neighbour.close();
      await postgresQuery(url, `DROP TABLE ${table}`);
    },
  };
}

/** A TCP forwarder to `target` that can be stopped (every connection cut) and started again on the same port: a server that dies and comes back. */
async function tcpProxy(target: URL): Promise<{ port: number; stop(): Promise<void>; start(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: NetServer | undefined;
  let port = 0;
  const start = () => new Promise<void>((resolve, reject) => {
    server = createServer((inbound) => {
      const outbound = connect({ host: target.hostname, port: Number(target.port) });
      for (const socket of [inbound, outbound]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      port = (server!.address() as { port: number }).port;
      resolve();
    });
  });
  await start();
  return {
    port,
    start,
    stop: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (!server?.listening) return resolve();
      server.close(() => resolve());
    }),
  };
}

describe('index option', () => {
  it('index: a URL of an unknown scheme or a bad Redis database is a LARDER_OPTION error when the Memory is made', () => {
    expect(() => new Memory(tempDir(), { index: 'mysql://host/db' })).toThrow(MemoryError);
    expect(() => new Memory(tempDir(), { index: 'mysql://host/db' })).toThrow(/index must be .*"redis:\/\/…", "postgres:\/\/…"/);
    expect(() => new Memory(tempDir(), { index: 'redis://host:6379/cache' })).toThrow(/database number/);
    expect(() => new Memory(tempDir(), { index: 'redis://host:6379/0?namespace=a/b' })).toThrow(/namespace must be/);
    expect(() => new Memory(tempDir(), { leases: 'memcached://host' })).toThrow(/leases must be a "redis:\/\/…" or "postgres:\/\/…" URL/);
    expect(() => RedisIndexStore.open({ url: 'postgres://host/db', namespace: 'a' })).toThrow(/RedisIndexStore url must be a "redis:\/\/…"/);
    expect(() => PostgresIndexStore.open({ url: 'postgres://host/db', namespace: 'a b' })).toThrow(/PostgresIndexStore namespace must be/);
  });

  for (const [name, url] of [['redis', 'redis://127.0.0.1:1/0'], ['postgres', 'postgres://postgres@127.0.0.1:1/larder']] as const) {
    it(`index: an unreachable ${name} index never fails a call: values are returned and cached, one warning`, async () => {
      const location = tempDir();
      const warnings: MemoryWarning[] = [];
      const memory = new Memory(location, { index: url, dedupe: true, onWarning: (w) => warnings.push(w) });
      let calls = 0;
      const f = memory.cache((x: number) => (calls++, x + 1), { name: 'inc' });
      expect(await f(1)).toBe(2);
      expect(await f(1)).toBe(2);
      expect(await f(2)).toBe(3);
      expect(calls).toBe(2);
      const stats = await memory.stats();
      expect(stats.entries).toBe(0); // the index is unreachable: no statistics, no failure
      await memory.close();
      expect(warnings.map((w) => w.code)).toEqual(['LARDER_INDEX']);
      expect(warnings[0]!.message).toMatch(/127\.0\.0\.1:1/);
    }, 30_000);
  }
});

describe.runIf(postgresUp)('postgres: last-use pages of one function or body', () => {
  /** The plan nodes of a JSON EXPLAIN, flattened. */
  const nodesOf = (plan: Record<string, unknown>): Record<string, unknown>[] => [plan, ...((plan.Plans as Record<string, unknown>[] | undefined) ?? []).flatMap(nodesOf)];

  it('a body\'s page is one index range from the cursor and a function\'s merges one per body: never a sort of the function', async () => {
    const store = PostgresIndexStore.open({ url: settings.postgres!.href, namespace: namespace() });
    try {
      const entry = (body: string, i: number) => ({ key: `f/${body}/${i.toString(16).padStart(16, '0')}`, name: 'f', bytes: 10, createdMs: i, lastAccessMs: 1000 + (i % 37), computeMs: 1, hits: 0 });
      await store.apply({ put: [...Array.from({ length: 300 }, (_, i) => entry('b1', i)), ...Array.from({ length: 200 }, (_, i) => entry('b2', i)), entry('b3', 7)] });
      const db = (store as unknown as { db: { query: (sql: string, params?: readonly unknown[]) => Promise<{ rows: Record<string, unknown>[] }>; transaction: <T>(work: (query: (sql: string, params?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>) => Promise<T>) => Promise<T> } }).db;
      const seen: { sql: string; params: readonly unknown[] }[] = [];
      const query = db.query.bind(db);
      db.query = (sql, params = []) => (seen.push({ sql, params }), query(sql, params));
      // Paged through, in order, across bodies (ties in last use broken by key).
      const listed: string[] = [];
      for (let after: { key: string; lastAccessMs: number } | undefined, page; (page = await store.page({ order: 'lastAccess', prefix: 'f/', after, limit: 64 })).length > 0; after = page.at(-1)) listed.push(...page.map((e) => e.key));
      const all = [...Array.from({ length: 300 }, (_, i) => entry('b1', i)), ...Array.from({ length: 200 }, (_, i) => entry('b2', i)), entry('b3', 7)];
      expect(listed).toEqual(all.sort((a, b) => a.lastAccessMs - b.lastAccessMs || (a.key < b.key ? -1 : 1)).map((e) => e.key));
      await store.page({ order: 'lastAccess', prefix: 'f/b1/', after: { key: 'f/b1/0', lastAccessMs: 1010 }, limit: 64 });
      db.query = query;
      const pages = seen.filter(({ sql }) => sql.includes('FROM larder_entries'));
      expect(pages.length).toBeGreaterThan(8);
      for (const { sql, params } of [pages[1]!, pages.at(-1)!]) {
        // With sequential scans off, the plan shows what the indexes can do (a few hundred rows would be scanned whole anyway).
        const plan = await db.transaction(async (q) => {
          await q('SET LOCAL enable_seqscan = off');
          return (await q(`EXPLAIN (FORMAT JSON) ${sql}`, [...params])).rows[0]!['QUERY PLAN'] as [{ Plan: Record<string, unknown> }];
        });
        const nodes = nodesOf(plan[0].Plan);
        const scans = nodes.filter((node) => String(node['Node Type']).includes('Scan') && node['Relation Name'] === 'larder_entries');
        expect(scans.length).toBeGreaterThan(0);
        for (const scan of scans) expect(scan['Node Type']).toMatch(/^Index( Only)? Scan$/);
        // The per-body reads carry the cursor into the index condition and need no sort of their own.
        const ranged = scans.filter((scan) => String(scan['Index Cond'] ?? '').includes('last_access_ms'));
        expect(ranged.length).toBeGreaterThan(0);
        for (const scan of ranged) expect(scan['Index Name']).toBe('larder_entries_by_body_access');
        const sorts = nodes.filter((node) => node['Node Type'] === 'Sort' || node['Node Type'] === 'Incremental Sort');
        if (sql.includes('WITH RECURSIVE')) expect(sorts.length).toBeLessThanOrEqual(1); // the merge of the bodies' pages
        else expect(sorts).toEqual([]);
      }
    } finally {
      await store.clear();
      await store.close();
    }
  });
});
