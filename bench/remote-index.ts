/**
 * Memory with its index on Redis or PostgreSQL against the default SQLite
 * index, both over the local folder store, measured in the same run. Needs the
 * servers of scripts/services.sh (their settings in the environment or
 * `.services/env`); without them it measures nothing and says so. Run alone
 * with `pnpm tsx bench/remote-index.ts`.
 *
 * - mem.remote.hit.<server>: an awaited cache hit. A hit reads only the result
 *   file and records itself in memory, so the index should not show here.
 * - mem.remote.flush.<server>: writing the bookkeeping of 1,000 distinct hits
 *   (one batch) to the index: where the server's round trips do show.
 * - mem.remote.stats.<server>: `stats()` of 1,000 entries (aggregates computed
 *   by the index).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Memory } from '@larder/memory';
import { serviceSettings, tcpReachable } from '../test/services/settings.js';
import { medianMs, perCallUs, table, type Row } from './harness.js';

const ENTRIES = 1000;

function small(i: number) {
  return { i, label: `entry ${i}` };
}

interface Figures { hitUs: number; flushMs: number; statsMs: number }

/** The three figures for one index setting on a fresh folder. */
async function measure(index: string | undefined): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-remote-'));
  const memory = new Memory(dir, { index, flushIntervalMs: Infinity, onWarning: (w) => { throw w; } });
  try {
    const f = memory.cache(small, { name: 'small' });
    for (let i = 0; i < ENTRIES; i++) await f(i);
    await memory.stats(); // stored and flushed
    const hitUs = await perCallUs(() => f(7), 2000);
    // One batch of 1,000 distinct hits, flushed by stats(); minus stats() alone (nothing pending).
    const statsMs = await medianMs(() => memory.stats(), 7, 1);
    const flushAndStatsMs = await medianMs(async () => {
      for (let i = 0; i < ENTRIES; i++) await f(i);
      await memory.stats();
    }, 7, 1);
    const hitsMs = await medianMs(async () => { for (let i = 0; i < ENTRIES; i++) await f(i); }, 7, 1);
    await memory.clear();
    return { hitUs, flushMs: Math.max(0, flushAndStatsMs - hitsMs - statsMs), statsMs };
  } finally {
    await memory.close();
    rmSync(dir, { recursive: true, force: true });
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
    const sqlite = await measure(undefined);
    const remote = await measure(index);
    const n = server.name;
    rows.push({ id: `mem.remote.hit.${n}`, figure: `hit of a small value, ${n} index (folder store)`, larder: remote.hitUs, baseline: sqlite.hitUs, baselineName: 'the same hit, SQLite index', unit: 'µs', ratio: remote.hitUs / sqlite.hitUs, goal: '≤ 1.2× SQLite (a hit never waits on the index)', met: remote.hitUs <= 1.2 * sqlite.hitUs });
    rows.push({ id: `mem.remote.flush.${n}`, figure: `writing the bookkeeping of ${ENTRIES} hits, ${n} index`, larder: remote.flushMs, baseline: sqlite.flushMs, baselineName: 'the same batch, SQLite index', unit: 'ms', ratio: remote.flushMs / sqlite.flushMs, goal: 'one batch, off the hit path', met: true, note: 'median flush+stats minus hits and stats alone' });
    rows.push({ id: `mem.remote.stats.${n}`, figure: `stats() of ${ENTRIES} entries, ${n} index`, larder: remote.statsMs, baseline: sqlite.statsMs, baselineName: 'stats(), SQLite index', unit: 'ms', ratio: remote.statsMs / sqlite.statsMs, goal: 'aggregates on the server', met: true });
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(table(await run()));
