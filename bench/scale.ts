/**
 * Scale: the same trivial cached function at 1,000 entries and at N entries
 * (default 1,000,000; `--scale N` or LARDER_BENCH_SCALE=N, CI runs a small N),
 * each figure printed next to its baseline measured in the same run: the same
 * operation at 1,000 entries, or the raw file operation it builds on.
 *
 *   pnpm tsx bench/scale.ts [--scale 100000] [--fresh] [--fill-workers 2]   alone
 *   pnpm tsx bench/scale.ts --scale 1000000 --fill-only    fill (or top up) the location, measure nothing
 *   pnpm bench --only scale                               in the report
 *
 * Filling N entries goes through the public API (cached calls, many in flight
 * at once); a filled location is kept in bench/.data/scale-<N> and reused by
 * the next run, topped up to N entries (`--fresh` refills from scratch).
 * What a user runs is measured where it matters: `larder stats` / `larder ls`, the first call
 * in a new process and the trivial miss run in child processes on plain node with the built
 * packages (`pnpm build`) when the build is current (no source file newer than it), else on
 * the source through tsx (slower: tsx's transform adds a helper call to every closure); each
 * row's note says which.
 */
import { spawn, spawnSync } from 'node:child_process';
import { unlink } from 'node:fs/promises';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Memory } from '@larder/memory';
import { median, table, type Row } from './harness.js';
import { TRIVIAL_SOURCE } from './scale-function.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = join(BENCH_DIR, '..');
const SMALL = 1000;
const log = (message: string) => process.stderr.write(`[bench scale] ${message}\n`);

/** The cached function: the same source here, in the fillers and in the first-call child. */
const trivial = (0, eval)(`(${TRIVIAL_SOURCE})`) as (x: number) => number;

function sizeOption(): { n: number; fresh: boolean } {
  const { values } = parseArgs({ options: { scale: { type: 'string' }, fresh: { type: 'boolean' }, only: { type: 'string' }, 'fill-workers': { type: 'string' }, 'no-joblib': { type: 'boolean' }, 'no-charts': { type: 'boolean' }, out: { type: 'string' } }, strict: false });
  const text = (values.scale as string | undefined) ?? process.env.LARDER_BENCH_SCALE ?? '1000000';
  const n = Number(text);
  if (!Number.isInteger(n) || n < SMALL * 2) throw new Error(`[larder/bench] --scale / LARDER_BENCH_SCALE must be a whole number ≥ ${SMALL * 2}, got ${JSON.stringify(text)}`);
  return { n, fresh: values.fresh === true };
}

/** How many filler processes fill a location at once (`--fill-workers N`, default: one per core, at least 2). */
function fillWorkers(): number {
  const { values } = parseArgs({ options: { 'fill-workers': { type: 'string' } }, strict: false });
  const text = values['fill-workers'] as string | undefined;
  if (text === undefined) return Math.max(2, availableParallelism());
  const workers = Number(text);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error(`[larder/bench] --fill-workers must be a whole number 1..64, got ${JSON.stringify(text)}`);
  return workers;
}

/** Runs one filler (bench/scale-fill.ts) on [from, to); `onFilled` hears of its progress. */
function runFiller(location: string, from: number, to: number, onFilled: (count: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=larder-source', '--import', 'tsx', join(BENCH_DIR, 'scale-fill.ts'), location, String(from), String(to)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.startsWith('filled ')) onFilled(Number(line.slice('filled '.length)));
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`filler [${from}, ${to}) exited with ${signal ?? code}: ${stderr.trim()}`))));
  });
}

/**
 * A location holding `n` entries of `trivial` (arguments 0..n-1), filled through the API by
 * several processes at once, each on its own range of arguments (bench/scale-fill.ts). A
 * location kept from an earlier run is reused, topped up when it lost entries (the reduceSize
 * figure removes 10%): calls on arguments it still holds are hits.
 */
async function filled(n: number, fresh: boolean): Promise<string> {
  const location = join(BENCH_DIR, '.data', `scale-${n}`);
  if (fresh) rmSync(location, { recursive: true, force: true });
  if (existsSync(location)) {
    const memory = new Memory(location);
    const { entries } = await memory.stats();
    await memory.close();
    if (entries === n) return location;
    log(`${location} holds ${entries} of ${n} entries: topping up`);
  }
  mkdirSync(dirname(location), { recursive: true });
  const workers = n <= 10_000 ? 1 : fillWorkers();
  const started = performance.now();
  let done = 0;
  let nextReport = 0;
  const onFilled = (count: number) => {
    done += count;
    if (done >= nextReport && done < n) {
      const seconds = (performance.now() - started) / 1000;
      log(`filled ${done} of ${n} (${seconds.toFixed(0)} s, ${(done / seconds).toFixed(0)} calls/s)`);
      nextReport += Math.max(50_000, n / 20);
    }
  };
  const step = Math.ceil(n / workers);
  await Promise.all(Array.from({ length: workers }, (_, w) => runFiller(location, w * step, Math.min(n, (w + 1) * step), onFilled)));
  log(`filled ${n} entries in ${((performance.now() - started) / 1000).toFixed(1)} s by ${workers} processes`);
  return location;
}

/**
 * How child processes run larder: plain node on the built packages when every package's build
 * is newer than its source (what a user runs), else the source through tsx.
 */
const runtime = ((): { nodeArgs: string[]; cli: string[]; built: boolean; note: string } => {
  const packages = ['store-fs', 'memory'].map((name) => join(ROOT, 'packages', name));
  const newest = (folder: string) => Math.max(...readdirSync(folder, { recursive: true }).map((file) => statSync(join(folder, String(file))).mtimeMs));
  const built = packages.every((pkg) => existsSync(join(pkg, 'dist', 'index.js')) && statSync(join(pkg, 'dist', 'index.js')).mtimeMs >= newest(join(pkg, 'src')));
  if (built) return { nodeArgs: [], cli: [join(ROOT, 'packages', 'memory', 'dist', 'cli.js')], built, note: 'built packages on plain node' };
  const tsx = ['--conditions=larder-source', '--import', 'tsx'];
  return { nodeArgs: tsx, cli: [...tsx, join(ROOT, 'packages', 'memory', 'src', 'cli.ts')], built, note: 'source through tsx (no current build: run pnpm build)' };
})();

/** Runs an ES module script in a child process (see {@link runtime}); returns its last line of output. */
function runScript(script: string, what: string): string {
  const result = spawnSync(process.execPath, [...runtime.nodeArgs, '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  if (result.status !== 0) throw new Error(`${what} child failed: ${result.stderr}`);
  return result.stdout.trim().split('\n').at(-1)!;
}

/** The first call of the function in a new process (a hit), timed inside that process from `new Memory` to the value. */
function firstCallMs(location: string, arg: number): number {
  const script = `
    const { Memory } = await import('@larder/memory');
    const start = performance.now();
    const memory = new Memory(${JSON.stringify(location)});
    const f = memory.cache((0, eval)(${JSON.stringify(`(${TRIVIAL_SOURCE})`)}), { name: 'trivial' });
    const value = await f(${arg});
    const ms = performance.now() - start;
    if (value !== ${arg + 1}) throw new Error('wrong value');
    await memory.close();
    console.log(ms);`;
  return Number(runScript(script, 'first-call'));
}

/** Wall time of `larder <args>` to its exit, process start included. */
function cliMs(args: string[]): number {
  const start = performance.now();
  const result = spawnSync(process.execPath, [...runtime.cli, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 30 });
  const ms = performance.now() - start;
  if (result.status !== 0) throw new Error(`larder ${args.join(' ')} failed: ${result.stderr}`);
  return ms;
}

/** Wall time from starting `larder ls` to its first `lines` lines on stdout (then it is stopped). */
function firstScreenMs(location: string, lines = 50): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [...runtime.cli, 'ls', location], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = 0;
    let done = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (done) return;
      for (const byte of chunk) if (byte === 10) seen++;
      if (seen >= lines) {
        done = true;
        resolve(performance.now() - start);
        child.kill();
      }
    });
    child.on('exit', () => done || reject(new Error(`larder ls printed only ${seen} lines`)));
    child.on('error', reject);
  });
}

/**
 * Median per-call time (µs) of hits at each location: 2,000 calls on the same number of
 * distinct stored arguments (1,000, each twice) spread over the whole location, so only the
 * location's size differs; each location's samples are taken in turn (small, big, small, ...)
 * so load from other processes weighs on both sides of the ratio alike.
 */
async function hitUs(locations: readonly { location: string; n: number }[]): Promise<number[]> {
  const opened = locations.map(({ location, n }) => {
    const memory = new Memory(location, { flushIntervalMs: 60_000 });
    return { memory, f: memory.cache(trivial, { name: 'trivial' }), args: Array.from({ length: 2 * SMALL }, (_, i) => ((i % SMALL) * 7919) % n), samples: [] as number[] };
  });
  for (const { f, args } of opened) for (const a of args) await f(a);
  for (let s = 0; s < 9; s++) {
    for (const { f, args, samples } of opened) {
      const start = performance.now();
      for (const a of args) await f(a);
      samples.push(((performance.now() - start) / args.length) * 1000);
    }
  }
  for (const { memory } of opened) await memory.close();
  return opened.map(({ samples }) => median(samples));
}

async function statsMs(location: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const memory = new Memory(location);
    const start = performance.now();
    await memory.stats();
    times.push(performance.now() - start);
    await memory.close();
  }
  return median(times);
}

/**
 * A trivial miss (new arguments: compute, write the entry, note it) against writing the same
 * bytes raw (write a temp file + rename, in one folder), in a child process (see
 * {@link runtime}). The samples alternate (a round of misses, a round of raw writes, ...) so
 * load from other processes weighs on both sides alike.
 */
function missAgainstRaw(): { missUs: number; rawUs: number; bytes: number } {
  const script = `
    import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    const { Memory } = await import('@larder/memory');
    const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
    const dir = mkdtempSync(join(tmpdir(), 'larder-bench-scale-miss-'));
    try {
      const memory = new Memory(join(dir, 'cache'), { flushIntervalMs: 60_000 });
      const f = memory.cache((0, eval)(${JSON.stringify(`(${TRIVIAL_SOURCE})`)}), { name: 'trivial' });
      await f(-1);
      const [entry] = await memory.list();
      const bytes = entry.bytes;
      const payload = Buffer.alloc(bytes, 7);
      const rawDir = join(dir, 'raw');
      mkdirSync(rawDir);
      const calls = 2000;
      const missSamples = [];
      const rawSamples = [];
      let next = 0;
      let k = 0;
      for (let s = 0; s < 7; s++) {
        let start = performance.now();
        for (let i = 0; i < calls; i++) await f(next++);
        missSamples.push(((performance.now() - start) / calls) * 1000);
        start = performance.now();
        for (let i = 0; i < calls; i++, k++) {
          const tmp = join(rawDir, '.' + k + '.tmp');
          writeFileSync(tmp, payload);
          renameSync(tmp, join(rawDir, String(k)));
        }
        rawSamples.push(((performance.now() - start) / calls) * 1000);
      }
      await memory.close();
      console.log(JSON.stringify({ missUs: median(missSamples), rawUs: median(rawSamples), bytes }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }`;
  return JSON.parse(runScript(script, 'miss')) as { missUs: number; rawUs: number; bytes: number };
}

/**
 * The disk's own price of what reduceSize must do per entry: unlinking one of `count` small
 * files spread over 256 folders (as entry files are), in a random order, 32 at a time through
 * the thread pool. µs per file. The files sit beside the location (`near`: the same file
 * system) and are synced before the clock starts, so each owns an allocated block as an entry
 * written minutes ago does: unlinking a file whose data is still delayed frees no block, and on
 * a file system mounted with online discard (this machine's ext4, no journal) each freed block
 * is a synchronous discard inside unlink(), the largest part of its price.
 */
async function rawUnlinkUs(count: number, bytes: number, near: string): Promise<number> {
  const dir = mkdtempSync(join(dirname(near), 'unlink-'));
  try {
    const files = Array.from({ length: count }, (_, i) => join(dir, (i % 256).toString(16).padStart(2, '0'), `${i}.larder`));
    for (let shard = 0; shard < 256; shard++) mkdirSync(join(dir, shard.toString(16).padStart(2, '0')));
    const payload = Buffer.alloc(bytes, 7);
    for (const file of files) writeFileSync(file, payload);
    spawnSync('sync');
    for (let i = files.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [files[i], files[j]] = [files[j]!, files[i]!];
    }
    const start = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < files.length) await unlink(files[next++]!);
    }));
    return ((performance.now() - start) / count) * 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** reduceSize removing 10% of the filled location (the next run tops it up again). */
async function reduceTenPercentMs(location: string, n: number): Promise<number> {
  const memory = new Memory(location);
  const start = performance.now();
  const { removed } = await memory.reduceSize({ itemsLimit: Math.ceil(n * 0.9) });
  const ms = performance.now() - start;
  await memory.close();
  if (removed !== n - Math.ceil(n * 0.9)) throw new Error(`reduceSize removed ${removed}, not ${n - Math.ceil(n * 0.9)}`);
  return ms;
}

const fmt = (n: number) => n.toLocaleString('en-US');

export async function run(): Promise<Row[]> {
  const { n, fresh } = sizeOption();
  const small = await filled(SMALL, fresh);
  const big = await filled(n, fresh);
  const cliNote = runtime.note;
  const rows: Row[] = [];
  const at = `${fmt(n)} entries`;
  const row = (r: Omit<Row, 'ratio' | 'met'>, goalMet: (r: Omit<Row, 'ratio' | 'met'>) => boolean): Row => ({ ...r, ratio: r.larder / r.baseline, met: goalMet(r) });

  log('first call in a new process');
  const firstSmall = median([0, 1, 2].map(() => firstCallMs(small, 7)));
  const firstBig = median([0, 1, 2].map(() => firstCallMs(big, 7)));
  rows.push(row({ id: 'scale.firstCall', figure: `first call (a hit) in a new process at ${at}`, larder: firstBig, baseline: firstSmall, baselineName: `at ${fmt(SMALL)}`, unit: 'ms', goal: '≤ 50 ms', note: `${runtime.note}; joblib: at 100,000 entries` }, (r) => r.larder <= 50));

  log('hits');
  const [hitSmall, hitBig] = (await hitUs([{ location: small, n: SMALL }, { location: big, n }])) as [number, number];
  rows.push(row({ id: 'scale.hit', figure: `a hit at ${at}`, larder: hitBig, baseline: hitSmall, baselineName: `at ${fmt(SMALL)}`, unit: 'µs', goal: '≤ 1.2× at 1,000' }, (r) => r.larder <= 1.2 * r.baseline));

  log('stats()');
  const statsSmall = await statsMs(small);
  const statsBig = await statsMs(big);
  rows.push(row({ id: 'scale.stats', figure: `memory.stats() at ${at}`, larder: statsBig, baseline: statsSmall, baselineName: `at ${fmt(SMALL)}`, unit: 'ms', goal: '≤ 1 s' }, (r) => r.larder <= 1000));

  log('larder stats');
  const cliStatsSmall = median([0, 1, 2].map(() => cliMs(['stats', small])));
  const cliStatsBig = median([0, 1, 2].map(() => cliMs(['stats', big])));
  rows.push(row({ id: 'scale.cliStats', figure: `larder stats at ${at}, process start included`, larder: cliStatsBig, baseline: cliStatsSmall, baselineName: `at ${fmt(SMALL)}`, unit: 'ms', goal: '≤ 2 s', note: cliNote }, (r) => r.larder <= 2000));

  log('larder ls first screen');
  const lsSmall = median([await firstScreenMs(small), await firstScreenMs(small), await firstScreenMs(small)]);
  const lsBig = median([await firstScreenMs(big), await firstScreenMs(big), await firstScreenMs(big)]);
  rows.push(row({ id: 'scale.lsFirstScreen', figure: `larder ls: first screen (50 lines) at ${at}, process start included`, larder: lsBig, baseline: lsSmall, baselineName: `at ${fmt(SMALL)}`, unit: 'ms', goal: '≤ 0.5 s', note: cliNote }, (r) => r.larder <= 500));

  log('reduceSize removing 10% (last: it changes the locations)');
  const reduceSmall = await reduceTenPercentMs(small, SMALL);
  const reduceBig = await reduceTenPercentMs(big, n);
  rows.push(row({ id: 'scale.reduce', figure: `reduceSize removing 10% of ${at}`, larder: reduceBig, baseline: reduceSmall, baselineName: `10% of ${fmt(SMALL)}`, unit: 'ms', goal: '≤ 30 s', note: 'joblib: reduce_size to 90% of 100,000 entries' }, (r) => r.larder <= 30_000));
  log('trivial miss against a raw write + rename');
  const miss = missAgainstRaw();
  rows.push(row({ id: 'scale.miss', figure: 'a trivial miss (compute, write the entry, note it)', larder: miss.missUs, baseline: miss.rawUs, baselineName: `writeFileSync + renameSync of ${miss.bytes} B`, unit: 'µs', goal: '≤ 2× raw write + rename', note: runtime.note }, (r) => r.larder <= 2 * r.baseline));

  log('raw unlinks: the disk\'s price of reduceSize per entry');
  const removedBig = n - Math.ceil(n * 0.9);
  const unlinkUs = await rawUnlinkUs(Math.min(removedBig, 10_000), miss.bytes, big);
  rows.push(row({ id: 'scale.reducePerEntry', figure: `reduceSize at ${at}, per removed entry (index page, file, record)`, larder: (reduceBig / removedBig) * 1000, baseline: unlinkUs, baselineName: `unlink of a ${miss.bytes} B synced file spread over 256 folders, 32 at a time, same file system`, unit: 'µs', goal: 'report (the disk sets it)' }, () => true));

  const size = (path: string) => (existsSync(path) ? statSync(path).size : 0);
  log(`index.sqlite at ${at}: ${(size(join(big, 'index.sqlite')) / 1e6).toFixed(0)} MB`);
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { 'fill-only': { type: 'boolean' } }, strict: false });
  const work = values['fill-only'] === true ? (async () => { const { n, fresh } = sizeOption(); await filled(n, fresh); return []; })() : run();
  work.then((rows) => rows.length > 0 && console.log(table(rows)), (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
