/**
 * bench/RESULTS.md: the machine, the versions, the date, the table of every
 * figure with joblib's column, the charts, and what could not be measured.
 */
import os from 'node:os';
import { table, type Row } from './harness.js';
import type { ChartSeries } from './chart-svg.js';
import type { JoblibResult } from './joblib.js';

/** What the report says about the machine it ran on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGiB: number;
  os: string;
  node: string;
  /** 1-minute load average when the run started and when it ended: a loaded machine skews every ratio. */
  load: { start: number; end?: number };
}

/** Everything bench/run.ts collected in one run. */
export interface Report {
  date: Date;
  machine: MachineInfo;
  /** The suites that ran (store, memory, parallel). */
  suites: string[];
  rows: Row[];
  /** joblib's result, or null with `joblibSkipped` saying why. */
  joblib: JoblibResult | null;
  joblibSkipped?: string;
  /** Chart files relative to RESULTS.md, with their titles and the points drawn. */
  charts: { file: string; title: string }[];
  /** larder's chart points, when measured. */
  larderSeries?: ChartSeries;
  /** What failed or was not there, one line each (missing bench files, errors). */
  problems: string[];
}

/** CPU model, cores, RAM, OS and Node version of this machine. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    ramGiB: os.totalmem() / 2 ** 30,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    load: { start: os.loadavg()[0]! },
  };
}

function fmt(value: number): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3;
  return value.toFixed(digits);
}

/** Header lines: date, machine, versions. */
function header(report: Report): string[] {
  const { machine, joblib } = report;
  const versions = joblib
    ? `joblib ${joblib.versions.joblib}, numpy ${joblib.versions.numpy}, Python ${joblib.versions.python}` +
      (joblib.meta?.quick ? ' (--quick sizes: not comparable)' : '')
    : report.joblibSkipped ?? 'not measured';
  return [
    '# larder benchmark results',
    '',
    `Written by \`pnpm bench\` on ${report.date.toISOString().replace(/\.\d+Z$/, 'Z')}. Every figure is the median of`,
    'several runs; baselines and joblib were measured in the same run on the same machine,',
    'so compare within this file, not across machines.',
    '',
    '| machine | |',
    '|---|---|',
    `| CPU | ${machine.cpu}, ${machine.cores} cores |`,
    `| RAM | ${machine.ramGiB.toFixed(1)} GiB |`,
    `| OS | ${machine.os} |`,
    `| Node | ${machine.node} |`,
    `| load average (1 min) | ${machine.load.start.toFixed(2)} at start, ${machine.load.end?.toFixed(2) ?? '?'} at end` +
      `${Math.max(machine.load.start, machine.load.end ?? 0) > 0.5 ? ' (other processes were running: ratios are pessimistic)' : ''} |`,
    `| joblib | ${versions} |`,
    `| suites | ${report.suites.join(', ') || 'none'} |`,
    '',
  ];
}

/** joblib's figures with what it did for each, including those without a larder row. */
function joblibSection(report: Report): string[] {
  const { joblib } = report;
  if (!joblib) return [];
  const larderIds = new Set(report.rows.map((row) => row.id));
  const lines = [
    '## What joblib did',
    '',
    'Measured by `bench/joblib_bench.py` (loky backend, 2 workers for Parallel). Figures without a',
    'larder row in this run are marked *(no larder row)*.',
    '',
    '| id | joblib | how |',
    '|---|---|---|',
  ];
  for (const [id, value] of Object.entries(joblib.figures)) {
    const unit = joblib.meta?.units?.[id] ?? report.rows.find((row) => row.id === id)?.unit ?? '';
    const note = joblib.meta?.notes?.[id] ?? (id.endsWith('.mb') ? 'size of the file above' : '');
    lines.push(`| ${id}${larderIds.has(id) ? '' : ' *(no larder row)*'} | ${fmt(value)} ${unit} | ${note} |`);
  }
  return [...lines, ''];
}

/** The charts, with their points as text under each. */
function chartSection(report: Report): string[] {
  if (report.charts.length === 0) return [];
  const lines = ['## Charts', ''];
  for (const chart of report.charts) lines.push(`![${chart.title}](${chart.file})`, '');
  const points = (series: Partial<ChartSeries> | undefined, who: string) => [
    ...(series?.speedupByNJobs
      ? [`- ${who} speedup: ${series.speedupByNJobs.map((p) => `nJobs ${p.nJobs} → ${p.speedup.toFixed(2)}×`).join(', ')}`]
      : []),
    ...(series?.tasksPerSecondBySize
      ? [`- ${who} tasks/s: ${series.tasksPerSecondBySize.map((p) => `${fmt(p.taskUs)} µs → ${fmt(p.tasksPerSecond)}/s`).join(', ')}`]
      : []),
  ];
  lines.push(...points(report.larderSeries, 'larder'), ...points(report.joblib?.series, 'joblib'), '');
  return lines;
}

const README_START = '<!-- bench:start (written by pnpm bench) -->';
const README_END = '<!-- bench:end -->';

/**
 * `readme` with its bench section (between the markers) replaced by this
 * run's rows whose id starts with `idPrefix` ('' for all), or undefined when
 * it has no such section: a README without the markers is left alone.
 */
export function withReadmeTable(readme: string, report: Report, idPrefix = '', resultsLink: string | null = 'bench/RESULTS.md'): string | undefined {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) return undefined;
  const { machine } = report;
  const joblib = report.joblib ? `, joblib ${report.joblib.versions.joblib}` : '';
  // A package README ships in the tarball, where a relative link into the
  // repository breaks: it names the file instead (resultsLink null).
  const results = resultsLink === null ? '`bench/RESULTS.md` of the larder repository' : `[bench/RESULTS.md](${resultsLink})`;
  const section = [
    README_START,
    `Measured by \`pnpm bench\` on ${report.date.toISOString().slice(0, 10)} (${machine.cpu}, ${machine.cores} cores, Node ${machine.node}${joblib}); details, charts and what each figure measures in ${results}.`,
    '',
    table(report.rows.filter((row) => row.id.startsWith(idPrefix))),
    '',
  ].join('\n');
  return readme.slice(0, start) + section + readme.slice(end);
}

/** Renders the whole RESULTS.md. */
export function renderMarkdown(report: Report): string {
  const unmet = report.rows.filter((row) => !row.met);
  const lines = [...header(report), '## Figures', '', report.rows.length ? table(report.rows) : '*No larder figures in this run.*', ''];
  if (unmet.length) {
    lines.push(`Goals not met in this run: ${unmet.map((row) => `\`${row.id}\``).join(', ')}.`, '');
  }
  lines.push(...chartSection(report), ...joblibSection(report));
  if (report.problems.length) {
    lines.push('## Not measured', '', ...report.problems.map((problem) => `- ${problem}`), '');
  }
  return lines.join('\n');
}
