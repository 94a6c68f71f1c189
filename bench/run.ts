/**
 * `pnpm bench`: runs the benchmarks of the three packages one after another
 * (never concurrently: they measure CPU and disk), then joblib's side in
 * Python, prints one table and writes bench/RESULTS.md with the charts.
 *
 *   pnpm bench [--only store,memory,parallel,remote,scale,s3] [--scale N] [--no-joblib] [--no-charts] [--out FILE]
 *
 * A package whose bench/<pkg>.ts is missing or throws is reported in the table's
 * "Not measured" list; the other packages still run.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChartLine, ChartSeries } from './chart-svg.js';
import { table, type Row } from './harness.js';
import { joblibUnavailable, runJoblib, type JoblibResult } from './joblib.js';
import { machineInfo, renderMarkdown, withReadmeTable, type Report } from './report.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

/** The package suites, in the order they run. */
const SUITES = [
  { name: 'store', file: 'store-fs.ts' },
  { name: 'memory', file: 'memory.ts' },
  { name: 'parallel', file: 'parallel.ts' },
  // Redis/Postgres index against SQLite: only with scripts/services.sh's servers (no rows otherwise).
  { name: 'remote', file: 'remote-index.ts' },
  // `--scale N` (or LARDER_BENCH_SCALE) sets the size, DEFAULT_SCALE here; a filled location is kept in bench/.data.
  { name: 'scale', file: 'scale.ts' },
  // Needs an S3 endpoint (scripts/services.sh): without one it is listed as not measured.
  { name: 's3', file: 's3.ts' },
] as const;

/** Entries of the scale section's big location in `pnpm bench` (10^6: `--scale 1000000`). */
const DEFAULT_SCALE = 100_000;

type SuiteModule = { run?: () => Promise<Row[]> };

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : String(error);
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      'no-joblib': { type: 'boolean', default: false },
      'no-charts': { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(BENCH_DIR, 'RESULTS.md') },
      scale: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('pnpm bench [--only store,memory,parallel,remote,scale,s3] [--scale N] [--no-joblib] [--no-charts] [--out FILE]');
    process.exit(0);
  }
  const known = SUITES.map((suite) => suite.name) as string[];
  const only = values.only ? values.only.split(',').map((name) => name.trim()) : known;
  const unknown = only.filter((name) => !known.includes(name));
  if (unknown.length) throw new Error(`[larder/bench] --only takes ${known.join(', ')}, got ${unknown.join(', ')}`);
  // bench/scale.ts reads its size from the environment (it also runs alone, at 10^6 by default).
  // Here the default is CI-sized: joblib's scale figures are at 10^5 too, and a 10^5 fill
  // takes well under a minute; `--scale 1000000` measures the issue's goals at full size.
  process.env.LARDER_BENCH_SCALE = values.scale ?? process.env.LARDER_BENCH_SCALE ?? String(DEFAULT_SCALE);
  return { only, joblib: !values['no-joblib'], charts: !values['no-charts'], out: values.out };
}

/** Imports and runs one package's bench; a missing file or a failure is a problem line, not a crash. */
async function runSuite(suite: (typeof SUITES)[number], problems: string[]): Promise<Row[]> {
  const file = path.join(BENCH_DIR, suite.file);
  if (!existsSync(file)) {
    problems.push(`bench/${suite.file} does not exist yet: no ${suite.name} figures.`);
    return [];
  }
  log(`${suite.name}: bench/${suite.file}`);
  const started = Date.now();
  try {
    const module = (await import(pathToFileURL(file).href)) as SuiteModule;
    if (typeof module.run !== 'function') throw new Error(`bench/${suite.file} does not export run()`);
    const rows = await module.run();
    log(`${suite.name}: ${rows.length} figures in ${((Date.now() - started) / 1e3).toFixed(1)} s`);
    return rows;
  } catch (error) {
    problems.push(`bench/${suite.file} failed: ${errorText(error)}`);
    log(`${suite.name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return [];
  }
}

/** larder's chart points, or undefined (with a problem line) when @larder/parallel cannot run them yet. */
async function larderChartSeries(problems: string[]): Promise<ChartSeries | undefined> {
  log('charts: speedup against nJobs, tasks/s against task size');
  try {
    const { measureChartSeries } = await import('./charts.js');
    return await measureChartSeries();
  } catch (error) {
    problems.push(`larder's chart points (bench/charts.ts) failed: ${errorText(error)}`);
    return undefined;
  }
}

/** Draws the charts that have at least one line, writes them under bench/charts/. */
async function writeCharts(larder: ChartSeries | undefined, joblib: JoblibResult | null, outDir: string) {
  const { speedupSvg, throughputSvg } = await import('./chart-svg.js');
  const lines = <K extends keyof ChartSeries>(key: K): ChartLine<ChartSeries[K][number]>[] => {
    const result: ChartLine<ChartSeries[K][number]>[] = [];
    if (larder) result.push({ name: 'larder (threads)', points: larder[key] });
    const joblibPoints = joblib?.series?.[key];
    if (joblibPoints) result.push({ name: 'joblib (loky)', points: joblibPoints });
    return result;
  };
  const charts: Report['charts'] = [];
  await mkdir(path.join(outDir, 'charts'), { recursive: true });
  const speedup = lines('speedupByNJobs');
  if (speedup.length) {
    await writeFile(path.join(outDir, 'charts', 'speedup.svg'), await speedupSvg(speedup, os.availableParallelism()));
    charts.push({ file: 'charts/speedup.svg', title: 'Speedup against nJobs' });
  }
  const throughput = lines('tasksPerSecondBySize');
  if (throughput.length) {
    await writeFile(path.join(outDir, 'charts', 'throughput.svg'), await throughputSvg(throughput));
    charts.push({ file: 'charts/throughput.svg', title: 'Tasks per second against task size' });
  }
  return charts;
}

/** Keeps joblib_bench.py's stderr in bench/.data/ (git-ignored) and says so in one line. */
async function keepStderr(stderr: string | undefined) {
  if (!stderr?.trim()) return;
  const file = path.join(BENCH_DIR, '.data', 'joblib-stderr.log');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, stderr);
  // joblib 1.2's loky resource tracker prints KeyError tracebacks for memmaps
  // it already deleted; they do not affect the figures.
  log(`joblib_bench.py wrote ${stderr.trim().split('\n').length} lines to stderr, kept in ${path.relative(process.cwd(), file)}`);
}

async function main() {
  const options = parseOptions();
  const machine = machineInfo();
  const problems: string[] = [];
  const rows: Row[] = [];
  for (const suite of SUITES) {
    if (options.only.includes(suite.name)) rows.push(...(await runSuite(suite, problems)));
  }
  const wantCharts = options.charts && options.only.includes('parallel');
  const larderSeries = wantCharts ? await larderChartSeries(problems) : undefined;

  let joblib: JoblibResult | null = null;
  let joblibSkipped: string | undefined = options.joblib ? undefined : 'skipped (--no-joblib)';
  if (options.joblib) {
    joblibSkipped = joblibUnavailable() ?? undefined;
    if (!joblibSkipped) {
      log('joblib: bench/joblib_bench.py (about a minute)');
      const sections = [...options.only, ...(wantCharts ? ['charts'] : [])];
      try {
        joblib = await runJoblib({ only: sections, stderr: 'pipe' });
        await keepStderr(joblib?.stderr);
      } catch (error) {
        // The message carries the script's last stderr lines: show them all here,
        // the report keeps the first line.
        log(error instanceof Error ? error.message : String(error));
        joblibSkipped = `bench/joblib_bench.py failed: ${errorText(error)}`;
        problems.push(joblibSkipped);
      }
    } else {
      log(`joblib column empty: ${joblibSkipped}`);
    }
  }
  for (const row of rows) row.joblib = joblib?.figures[row.id];

  const outDir = path.dirname(path.resolve(options.out));
  const charts = wantCharts ? await writeCharts(larderSeries, joblib, outDir) : [];
  const report: Report = {
    date: new Date(),
    machine: { ...machine, load: { ...machine.load, end: os.loadavg()[0] } },
    suites: options.only,
    rows,
    joblib,
    joblibSkipped,
    charts,
    larderSeries,
    problems,
  };
  console.log(rows.length ? table(rows) : '(no larder figures)');
  if (joblibSkipped) console.log(`\njoblib column empty: ${joblibSkipped}`);
  for (const problem of problems) console.log(`not measured: ${problem}`);
  await writeFile(options.out, renderMarkdown(report));
  // A full run with the default output also refreshes the READMEs' tables.
  if (options.out === path.join(BENCH_DIR, 'RESULTS.md') && options.only.length === SUITES.length) await refreshReadmes(report);
  log(`wrote ${path.relative(process.cwd(), options.out)}${charts.length ? ` and ${charts.map((c) => c.file).join(', ')}` : ''}`);
}

/** The README sections between bench markers: the root's shows every row, each package's its own. */
const READMES = [
  { file: 'README.md', idPrefix: '', resultsLink: 'bench/RESULTS.md' },
  { file: 'packages/store-fs/README.md', idPrefix: 'store.', resultsLink: null },
  { file: 'packages/memory/README.md', idPrefix: 'mem.', resultsLink: null },
  { file: 'packages/parallel/README.md', idPrefix: 'par.', resultsLink: null },
];

async function refreshReadmes(report: Report): Promise<void> {
  for (const { file, idPrefix, resultsLink } of READMES) {
    const readmePath = path.join(BENCH_DIR, '..', file);
    const updated = withReadmeTable(await readFile(readmePath, 'utf8'), report, idPrefix, resultsLink);
    if (updated !== undefined) await writeFile(readmePath, updated);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
