/**
 * The bench harness: every figure is a median of several runs, printed next to
 * a baseline measured in the same run, because these machines are noisy and
 * only ratios travel between runs.
 */
import { performance } from 'node:perf_hooks';

/** One line of the report. Times are in milliseconds unless `unit` says otherwise. */
export interface Row {
  /** Stable id, also the key of joblib's figure in bench/joblib_bench.py's JSON. */
  id: string;
  /** What is measured, in words. */
  figure: string;
  /** larder's figure. */
  larder: number;
  /** The raw operation measured in the same run (NaN when there is none). */
  baseline: number;
  /** What `baseline` is, e.g. 'fs.writeFileSync'. */
  baselineName: string;
  unit: 'ms' | 'µs' | 'GB/s' | 'M tasks/s' | '×' | 'MB';
  /** larder / baseline, or baseline-relative figure as the goal is phrased. */
  ratio: number;
  /** The goal in words, e.g. '≤ 1.1× baseline'. */
  goal: string;
  /** Whether the goal is met in this run. */
  met: boolean;
  /** joblib's figure when bench/joblib_bench.py ran (filled in by bench/run.ts). */
  joblib?: number;
  /** Anything a reader needs to read the row (sizes, methods). */
  note?: string;
}

/** Runs `fn` `warmup` times, then `runs` times, and returns the median time in ms. */
export async function medianMs(fn: () => unknown, runs = 7, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

/** Median time in ms of a synchronous `fn` repeated `inner` times per sample, divided by `inner`. */
export function medianPerCallMs(fn: () => unknown, inner = 1000, runs = 9): number {
  for (let i = 0; i < inner; i++) fn();
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    for (let i = 0; i < inner; i++) fn();
    times.push((performance.now() - start) / inner);
  }
  return median(times);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function format(value: number | undefined, unit: string): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3;
  return `${value.toFixed(digits)} ${unit}`;
}

/** Renders rows as a Markdown table (the same text is printed and written to RESULTS.md). */
export function table(rows: Row[]): string {
  const head = ['figure', 'larder', 'baseline', 'joblib', 'ratio', 'goal', 'met'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const baseline = Number.isNaN(row.baseline) ? '—' : `${format(row.baseline, row.unit)} (${row.baselineName})`;
    const figure = row.note ? `${row.figure} (${row.note})` : row.figure;
    lines.push(
      `| ${[figure, format(row.larder, row.unit), baseline, format(row.joblib, row.unit), format(row.ratio, '×'), row.goal, row.met ? 'yes' : 'NO'].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** Median per-call time in µs of `calls` awaited calls of `fn`, over several samples (after up to 200 warm-up calls). */
export async function perCallUs(fn: () => Promise<unknown>, calls: number, samples = 9): Promise<number> {
  for (let i = 0; i < Math.min(calls, 200); i++) await fn();
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) await fn();
    times.push(((performance.now() - start) / calls) * 1000);
  }
  return median(times);
}
