/**
 * Memory with its index on Redis or PostgreSQL against the default SQLite
 * index, both over the local folder store, measured in the same run. Needs the
 * servers of scripts/services.sh (their settings in the environment or
 * `.services/env`); without them it measures nothing and says so. Run alone
 * with `pnpm tsx bench/remote-index.ts`.
 *
 * - mem.remote.hit.<server>: an awaited cache hit. A hit reads only the result
 *   file and records itself in memory, so the index should not show here.
 * - mem.remote.flush.<server>: `apply()` of one batch of 1,000 hit increments
 *   (what a flush after 1,000 distinct hits writes), straight on the index
 *   stores: where the server's round trips do show.
 * - mem.remote.stats.<server>: `stats()` of 1,000 entries (aggregates computed
 *   by the index).
 * - mem.remote.s3.*: the whole remote setup, a Memory on `s3://…` with its
 *   index on Redis, against a Memory on a folder with SQLite: a hit of a small
 *   value, and of an 80 MB array eager and mapped (`mmap: 'r'`; the mapped hit
 *   maps the S3 store's local read-through copy), after a first hit that fills
 *   that copy.
 */
import { CreateBucketCommand, DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Memory, PostgresIndexStore, RedisIndexStore, type IndexBatch, type IndexStore } from '@larder/memory';
import { openSqliteIndex } from '../packages/memory/src/index-open.js';
import { serviceSettings, tcpReachable } from '../test/services/settings.js';
import { median, medianMs, perCallUs, table, type Row } from './harness.js';

const ENTRIES = 1000;

function small(i: number) {
  return { i, label: `entry ${i}` };
}

/** A Memory on a fresh folder with `ENTRIES` small entries stored and flushed to `index` (undefined: SQLite). */
async function filled(index: string | undefined): Promise<{ memory: Memory; hit: () => Promise<unknown>; dispose(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-remote-'));
  const memory = new Memory(dir, { index, flushIntervalMs: Infinity, onWarning: (w) => { throw w; } });
  const f = memory.cache(small, { name: 'small' });
  for (let i = 0; i < ENTRIES; i++) await f(i);
  await memory.stats(); // stored and flushed
  return {
    memory,
    hit: () => f(7),
    async dispose() {
      await memory.clear();
      await memory.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Hit time (µs per call) and stats() time (ms) of the SQLite and the remote index, measured in
 * back-to-back pairs so that load from other processes on the machine skews both sides alike.
 */
async function hitsAndStats(index: string): Promise<{ hitUs: [number, number]; statsMs: [number, number] }> {
  const sqlite = await filled(undefined);
  const remote = await filled(index);
  try {
    const hits: [number[], number[]] = [[], []];
    const stats: [number[], number[]] = [[], []];
    for (let pair = 0; pair < 9; pair++) {
      hits[0].push(await perCallUs(sqlite.hit, 500, 1));
      hits[1].push(await perCallUs(remote.hit, 500, 1));
      stats[0].push(await medianMs(() => sqlite.memory.stats(), 1, 0));
      stats[1].push(await medianMs(() => remote.memory.stats(), 1, 0));
    }
    return { hitUs: [median(hits[0]), median(hits[1])], statsMs: [median(stats[0]), median(stats[1])] };
  } finally {
    await sqlite.dispose();
    await remote.dispose();
  }
}

/** The batch a flush writes after 1,000 distinct hits: entry increments, one function's counters, one body's use. */
function hitBatch(round: number): IndexBatch {
  const now = Date.now() + round;
  return {
    hits: Array.from({ length: ENTRIES }, (_, i) => ({ key: `small/${'a'.repeat(16)}/${i.toString(16).padStart(16, '0')}`, name: 'small', hits: 1, lastAccessMs: now, createdMs: 0, computeMs: 1, bytes: 100 })),
    functions: [{ folder: 'small', name: 'small', hits: ENTRIES, misses: 0, computeTimeSavedMs: ENTRIES }],
    bodies: [{ folder: 'small', body: 'a'.repeat(16), name: 'small', usedMs: now }],
  };
}

/** Median ms of one `apply()` of {@link hitBatch} on `index` (cleared and closed after). */
async function flushMs(index: IndexStore): Promise<number> {
  try {
    let round = 0;
    return await medianMs(() => index.apply(hitBatch(round++)), 9, 2);
  } finally {
    await index.clear();
    await index.close();
  }
}

/** A Memory over `location` with a small and an 80 MB cached value stored and hit once (the S3 store keeps its local copy). */
async function wholeSetup(location: string, options: ConstructorParameters<typeof Memory>[1]) {
  const memory = new Memory(location, { ...options, flushIntervalMs: 1000, onWarning: (w) => { throw w; } });
  const smallValue = memory.cache(small, { name: 'small' });
  const big = memory.cache((n: number) => new Float64Array(n).fill(1.5), { name: 'big' });
  const bigMapped = memory.cache((n: number) => new Float64Array(n).fill(2.5), { name: 'bigMapped', mmap: 'r' });
  const n = 10_000_000; // 80 MB
  for (let round = 0; round < 2; round++) await Promise.all([smallValue(7), big(n), bigMapped(n)]);
  return {
    smallHit: () => smallValue(7),
    eagerHit: () => big(n),
    mappedHit: () => bigMapped(n),
    async dispose() {
      await memory.clear();
      await memory.close();
    },
  };
}

/** The same hits over S3 + Redis and over a folder + SQLite, in back-to-back pairs. */
async function wholeRemote(redis: URL, s3: NonNullable<ReturnType<typeof serviceSettings>['s3']>, runId: string): Promise<Row[]> {
  const bucket = `larder-bench-${runId}`;
  const s3Options = { endpoint: s3.endpoint.href, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, forcePathStyle: true };
  const client = new S3Client({ ...s3Options, requestChecksumCalculation: 'WHEN_REQUIRED' });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-whole-'));
  const local = await wholeSetup(dir, {});
  const remote = await wholeSetup(`s3://${bucket}/bench`, { index: `${redis.href}${redis.search ? '&' : '?'}namespace=bench-whole-${runId}`, s3: { ...s3Options, cacheDir: join(dir, 's3-cache') } });
  try {
    const sides = [local, remote];
    const smallUs: [number[], number[]] = [[], []];
    const eagerMs: [number[], number[]] = [[], []];
    const mappedMs: [number[], number[]] = [[], []];
    for (let pair = 0; pair < 5; pair++) {
      for (const [i, side] of sides.entries()) {
        smallUs[i]!.push(await perCallUs(side.smallHit, 100, 1));
        eagerMs[i]!.push(await medianMs(side.eagerHit, 1, 0));
        mappedMs[i]!.push(await medianMs(side.mappedHit, 1, 0));
      }
    }
    const row = (id: string, figure: string, values: [number[], number[]], unit: 'µs' | 'ms', note: string): Row => {
      const [base, larder] = [median(values[0]), median(values[1])];
      return { id: `mem.remote.s3.${id}`, figure, larder, baseline: base, baselineName: 'the same hit, folder store + SQLite index', unit, ratio: larder / base, goal: 'report', met: true, note };
    };
    return [
      row('small', 'hit of a small value, S3 store + Redis index', smallUs, 'µs', 'one GET with If-None-Match (a 304 serves nothing bigger than the answer); medians of 5 pairs of 100 hits'),
      row('eager', 'hit of an 80 MB array, eager, S3 store + Redis index', eagerMs, 'ms', 'the local read-through copy, revalidated by ETag; medians of 5 pairs'),
      row('mapped', "hit of an 80 MB array, mmap: 'r', S3 store + Redis index", mappedMs, 'ms', "maps the local copy; medians of 5 pairs"),
    ];
  } finally {
    await local.dispose();
    await remote.dispose();
    rmSync(dir, { recursive: true, force: true });
    await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined); // empty after clear(); else left for a look
    client.destroy();
  }
}

export async function run(): Promise<Row[]> {
  const settings = serviceSettings();
  const servers = [
    { name: 'redis', url: settings.redis },
    { name: 'postgres', url: settings.postgres },
  ];
  const rows: Row[] = [];
  const runId = randomBytes(4).toString('hex');
  for (const server of servers) {
    if (!server.url || !(await tcpReachable(server.url))) {
      process.stderr.write(`[bench] remote-index: no ${server.name} (start it with bash scripts/services.sh start); not measured\n`);
      continue;
    }
    const index = `${server.url.href}${server.url.search ? '&' : '?'}namespace=bench-${runId}`;
    // Baseline and remote back to back, so load from other processes skews both alike.
    const { hitUs, statsMs } = await hitsAndStats(index);
    const dir = mkdtempSync(join(tmpdir(), 'larder-bench-remote-'));
    const sqliteFlushMs = await flushMs(await openSqliteIndex(join(dir, 'index.sqlite')));
    rmSync(dir, { recursive: true, force: true });
    const namespace = `bench-flush-${runId}`;
    const remoteFlushMs = await flushMs(server.name === 'redis' ? RedisIndexStore.open({ url: server.url.href, namespace }) : PostgresIndexStore.open({ url: server.url.href, namespace }));
    const n = server.name;
    rows.push({ id: `mem.remote.hit.${n}`, figure: `hit of a small value, ${n} index (folder store)`, larder: hitUs[1], baseline: hitUs[0], baselineName: 'the same hit, SQLite index', unit: 'µs', ratio: hitUs[1] / hitUs[0], goal: '≤ 1.2× SQLite (a hit never waits on the index)', met: hitUs[1] <= 1.2 * hitUs[0], note: 'medians of 9 back-to-back pairs of 500 hits' });
    rows.push({ id: `mem.remote.flush.${n}`, figure: `one flush of ${ENTRIES} hit increments, ${n} index`, larder: remoteFlushMs, baseline: sqliteFlushMs, baselineName: 'the same batch, SQLite index', unit: 'ms', ratio: remoteFlushMs / sqliteFlushMs, goal: 'one batch, off the hit path', met: true, note: 'IndexStore.apply() of one batch' });
    rows.push({ id: `mem.remote.stats.${n}`, figure: `stats() of ${ENTRIES} entries, ${n} index`, larder: statsMs[1], baseline: statsMs[0], baselineName: 'stats(), SQLite index', unit: 'ms', ratio: statsMs[1] / statsMs[0], goal: 'aggregates on the server', met: true });
  }
  if (settings.redis && settings.s3 && (await tcpReachable(settings.redis)) && (await tcpReachable(settings.s3.endpoint))) rows.push(...(await wholeRemote(settings.redis, settings.s3, runId)));
  else process.stderr.write('[bench] remote-index: no Redis and S3 together (bash scripts/services.sh start); the S3 + Redis hits are not measured\n');
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(table(await run()));
