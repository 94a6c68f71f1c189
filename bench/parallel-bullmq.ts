/**
 * Backend 'bullmq' figures, each against a baseline measured in the same
 * run: 1 000 trivial tasks and 40 CPU-bound tasks of ~20 ms over two
 * larder-worker processes (one thread each) against the threads backend with
 * two workers, and an 80 MB argument through the pool's store against the
 * same argument in the job data. Needs the Redis of scripts/services.sh
 * (LARDER_TEST_REDIS_URL); without it, measures nothing and says so.
 *
 *   eval "$(bash scripts/services.sh env)"; pnpm tsx bench/parallel-bullmq.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { delayed, Parallel } from '@larder/parallel';
import { calibrateSpin } from './charts.js';
import { median, medianMs, table, type Row } from './harness.js';
import { chartTasks } from './tasks/chart-tasks.js';
import { parallelTasks } from './tasks/parallel-tasks.js';
import { startWorker, type WorkerProcess } from '../test/services/larder-workers.js';

const { addTwo, sumRange } = parallelTasks;

interface Setup {
  connection: string;
  queue: string;
  store: string;
}

async function trivial(setup: Setup): Promise<Row> {
  const items = Array.from({ length: 1000 }, (_, i) => i);
  await using remote = new Parallel({ backend: 'bullmq', ...setup, nJobs: 2 });
  await using threads = new Parallel({ nJobs: 2 });
  await remote.map(addTwo, items);
  await threads.map(addTwo, items);
  const remoteMs = await medianMs(() => remote.map(addTwo, items), 5, 1);
  const threadsMs = await medianMs(() => threads.map(addTwo, items), 5, 1);
  return {
    id: 'par.bullmq.trivial',
    figure: 'map of 1 000 trivial tasks (x + 2), bullmq with 2 larder-worker processes',
    larder: remoteMs,
    baseline: threadsMs,
    baselineName: 'threads backend, 2 workers',
    unit: 'ms',
    ratio: remoteMs / threadsMs,
    goal: '≤ 100 ms (a few jobs: auto batching)',
    met: remoteMs <= 100,
    note: `${(1000 / remoteMs).toFixed(0)}k tasks/s over bullmq, ${(1000 / threadsMs).toFixed(0)}k tasks/s on threads`,
  };
}

async function cpu40(setup: Setup): Promise<Row> {
  const iterations = Math.round(calibrateSpin() * 20);
  const items = Array.from({ length: 40 }, () => iterations);
  await using remote = new Parallel({ backend: 'bullmq', ...setup, nJobs: 2 });
  await using threads = new Parallel({ nJobs: 2 });
  await using one = new Parallel({ nJobs: 1 });
  await remote.map(chartTasks.spin, items.slice(0, 4), { batchSize: 1 });
  await threads.map(chartTasks.spin, items.slice(0, 4));
  const remoteTimes: number[] = [];
  const threadsTimes: number[] = [];
  const oneTimes: number[] = [];
  for (let i = 0; i < 2; i++) {
    oneTimes.push(await medianMs(() => one.map(chartTasks.spin, items), 1, 0));
    remoteTimes.push(await medianMs(() => remote.map(chartTasks.spin, items), 1, 0));
    threadsTimes.push(await medianMs(() => threads.map(chartTasks.spin, items), 1, 0));
  }
  const [remoteMs, threadsMs, oneMs] = [median(remoteTimes), median(threadsTimes), median(oneTimes)];
  return {
    id: 'par.bullmq.cpu40',
    figure: '40 CPU-bound tasks of ~20 ms, bullmq with 2 larder-worker processes',
    larder: remoteMs,
    baseline: threadsMs,
    baselineName: 'threads backend, 2 workers',
    unit: 'ms',
    ratio: remoteMs / threadsMs,
    goal: 'speedup over nJobs 1 ≥ 1.6×',
    met: oneMs / remoteMs >= 1.6,
    note: `speedup over nJobs 1 (${oneMs.toFixed(0)} ms): bullmq ${(oneMs / remoteMs).toFixed(2)}×, threads ${(oneMs / threadsMs).toFixed(2)}×`,
  };
}

async function bigArgument(setup: Setup): Promise<Row> {
  const data = Float64Array.from({ length: 10_000_000 }, (_, i) => i % 1000); // 80 MB
  const calls = [delayed(sumRange)(data, 0, 1000)];
  await using viaStore = new Parallel({ backend: 'bullmq', ...setup, nJobs: 2 });
  await using viaJob = new Parallel({ backend: 'bullmq', ...setup, nJobs: 2, maxNbytes: null });
  const storeMs = await medianMs(() => viaStore.run(calls), 3, 1);
  // One sample: 107 MB of base64 in a job is slow enough to lose its lock on a busy machine (BullMQ then runs it again).
  const started = performance.now();
  const failure = await viaJob.run(calls).then(
    () => undefined,
    (error: unknown) => (error as Error).message,
  );
  const jobMs = performance.now() - started;
  return {
    id: 'par.bullmq.big',
    figure: '80 MB Float64Array argument to one remote task, through the store (a local folder)',
    larder: storeMs,
    baseline: jobMs,
    baselineName: 'the same array in the job data (maxNbytes: null, through Redis)',
    unit: 'ms',
    ratio: storeMs / jobMs,
    goal: '≤ 0.5× job data',
    met: storeMs / jobMs <= 0.5,
    note: `one call per sample: put, job, worker get, result; transfer objects removed${failure ? `. Through job data the call failed after ${(jobMs / 1000).toFixed(0)} s: ${failure}` : ''}`,
  };
}

export async function run(): Promise<Row[]> {
  const connection = process.env.LARDER_TEST_REDIS_URL;
  if (!connection) {
    console.warn('bench/parallel-bullmq.ts: LARDER_TEST_REDIS_URL is not set (start scripts/services.sh): nothing measured');
    return [];
  }
  const store = mkdtempSync(join(tmpdir(), 'larder-bench-bullmq-'));
  const setup: Setup = { connection, queue: `larder-bench-${process.pid}`, store };
  const workers: WorkerProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) workers.push(await startWorker({ connection, queue: setup.queue, stores: [setup.store], concurrency: 1, lockDuration: 30_000, stalledInterval: 30_000 }));
    const rows: Row[] = [];
    for (const figure of [trivial, cpu40, bigArgument]) {
      try {
        rows.push(await figure(setup));
      } catch (error) {
        console.warn(`bench/parallel-bullmq.ts: ${figure.name} not measured: ${String(error)}`);
      }
    }
    return rows;
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    rmSync(store, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(table(await run()));
}
