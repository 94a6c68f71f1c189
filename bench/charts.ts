/**
 * larder's points for the report's two charts, measured with the public
 * @larder/parallel API: speedup against nJobs on CPU-bound tasks, and tasks
 * per second against task size on 2 workers. bench/joblib_bench.py measures
 * the same two series for joblib (loky) with the same task sizes in µs of
 * single-thread work, so the lines can share one chart.
 */
import { Parallel, parallel } from '@larder/parallel';
import { performance } from 'node:perf_hooks';
import type { ChartSeries } from './chart-svg.js';
import { median, medianMs } from './harness.js';
import { chartTasks } from './tasks/chart-tasks.js';

/** Options of {@link measureChartSeries}. */
export interface ChartOptions {
  /**
   * Fewer and smaller tasks (a couple of seconds), for smoke runs.
   * @default false
   */
  quick?: boolean;
  /**
   * The nJobs values of the speedup chart (1 is always measured, as the base).
   * @default [2, 4]
   */
  nJobs?: number[];
}

/** Work per task of the throughput chart, in µs of single-thread time (0: an empty task). */
export const TASK_SIZES_US = [0, 10, 100, 1_000, 10_000];

/** Duration of each CPU-bound task of the speedup chart, ms. */
const SPEEDUP_TASK_MS = 20;

/** Iterations of `spin` per ms of single-thread work on this machine. */
export function calibrateSpin(): number {
  const probe = 5_000_000;
  // Let the JIT optimize the loop first: the first calls run it unoptimized
  // (or through on-stack replacement), which would make tasks too short.
  for (let i = 0; i < 20; i++) chartTasks.spin(probe / 10);
  const times: number[] = [];
  for (let run = 0; run < 5; run++) {
    const start = performance.now();
    chartTasks.spin(probe);
    times.push(performance.now() - start);
  }
  return probe / median(times);
}

/** Single-thread time of one `spin(iterations)` in µs, timed over a batch so tiny tasks register. */
function workUs(iterations: number, targetUs: number): number {
  const batch = Math.min(1000, Math.max(1, Math.floor(10_000 / Math.max(targetUs, 1))));
  const times: number[] = [];
  for (let run = 0; run < 5; run++) {
    const start = performance.now();
    for (let i = 0; i < batch; i++) chartTasks.spin(iterations);
    times.push(((performance.now() - start) * 1e3) / batch);
  }
  return median(times);
}

/**
 * Median over `runs` pairs of base time / test time, each pair back to back,
 * so that load from other processes on a shared machine hits both sides of a
 * ratio alike (the same method as joblib_bench.py's median_speedup).
 */
export async function medianSpeedup(base: () => unknown, test: () => unknown, runs: number): Promise<number> {
  await base();
  await test();
  const ratios: number[] = [];
  for (let run = 0; run < runs; run++) {
    const start = performance.now();
    await base();
    const middle = performance.now();
    await test();
    ratios.push((middle - start) / (performance.now() - middle));
  }
  return median(ratios);
}

/**
 * Measures larder's two chart series. Runs about 10 s on 2 cores (`quick`:
 * about 2 s). Pools are warmed before they are timed: the charts are about
 * steady-state throughput; cold start is its own figure (par.coldstart).
 *
 * @example
 * const larder = await measureChartSeries();
 * console.log(larder.speedupByNJobs); // [{ nJobs: 1, speedup: 1 }, { nJobs: 2, speedup: 1.95 }, ...]
 */
export async function measureChartSeries(options: ChartOptions = {}): Promise<ChartSeries> {
  const quick = options.quick ?? false;
  const runs = quick ? 2 : 3;
  const perMs = calibrateSpin();

  const cpuItems = new Array<number>(quick ? 8 : 24).fill(Math.round(SPEEDUP_TASK_MS * perMs));
  const speedupByNJobs: ChartSeries['speedupByNJobs'] = [{ nJobs: 1, speedup: 1 }];
  for (const nJobs of options.nJobs ?? [2, 4]) {
    const pool = new Parallel({ nJobs });
    try {
      const speedup = await medianSpeedup(
        () => parallel(chartTasks.spin, cpuItems, { nJobs: 1 }),
        () => pool.map(chartTasks.spin, cpuItems),
        runs,
      );
      speedupByNJobs.push({ nJobs, speedup });
    } finally {
      await pool.close();
    }
  }

  const tasksPerSecondBySize: ChartSeries['tasksPerSecondBySize'] = [];
  const pool = new Parallel({ nJobs: 2, batchSize: 'auto' });
  try {
    await pool.map(chartTasks.spin, [0, 0]); // start the workers
    for (const targetUs of TASK_SIZES_US) {
      const iterations = Math.round((targetUs / 1e3) * perMs);
      // Enough tasks for ~0.25 s of single-thread work, at most 100 000.
      let count = targetUs === 0 ? 100_000 : Math.max(20, Math.min(100_000, Math.floor(250_000 / targetUs)));
      if (quick) count = Math.max(10, Math.floor(count / 10));
      const items = new Array<number>(count).fill(iterations);
      const ms = await medianMs(() => pool.map(chartTasks.spin, items), runs);
      tasksPerSecondBySize.push({ taskUs: workUs(iterations, targetUs), tasksPerSecond: count / (ms / 1e3), tasks: count });
    }
  } finally {
    await pool.close();
  }
  return { speedupByNJobs, tasksPerSecondBySize };
}
