/**
 * Pool cold start on a runtime that strips TypeScript types itself, run by
 * bench/parallel.ts as `node24 bench/cold-start-native.ts` (no tsx, no
 * larder-source condition: the built packages, as a user's install gives
 * them). The task module is TypeScript, stripped once by the pool for its
 * workers (worker-typescript.ts), as the parent's own loader stripped it.
 * Prints one JSON line, in ms: the median cold start (new pool to first
 * result and closed), its two parts (to the first result; close()), and, as
 * the baseline, one bare Worker to its first message and terminated. Beside
 * each, the CPU time it took (all threads of the process), which load from
 * other jobs on a shared machine inflates far less than wall time; and the
 * cold start of a call with two batches, which starts both threads (a pool
 * starts threads as batches need them).
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Parallel } from '@larder/parallel';
import { median } from './harness.ts';
import { parallelTasks } from './tasks/parallel-tasks.ts';

const RUNS = 9;

/** Median wall and CPU ms of `run` over RUNS runs after one warmup. */
async function measure(run: () => Promise<void>): Promise<{ ms: number; cpuMs: number }> {
  await run();
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1000);
  }
  return { ms: median(times), cpuMs: median(cpu) };
}

const firstResults: number[] = [];
const closes: number[] = [];
const larder = await measure(async () => {
  const start = performance.now();
  const pool = new Parallel({ nJobs: 2 });
  try {
    await pool.map(parallelTasks.addTwo, [1]);
  } finally {
    const mapped = performance.now();
    await pool.close();
    firstResults.push(mapped - start);
    closes.push(performance.now() - mapped);
  }
});
const bothThreads = await measure(async () => {
  await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
  await pool.map(parallelTasks.addTwo, [1, 2]);
});
const baseline = await measure(async () => {
  const worker = new Worker('require("node:worker_threads").parentPort.postMessage(1)', { eval: true });
  await new Promise((resolve) => worker.once('message', resolve));
  await worker.terminate();
});
// The warmup run is not a sample.
console.log(
  JSON.stringify({
    version: process.version,
    larder: larder.ms,
    larderCpu: larder.cpuMs,
    baseline: baseline.ms,
    baselineCpu: baseline.cpuMs,
    firstResult: median(firstResults.slice(1)),
    close: median(closes.slice(1)),
    bothThreads: bothThreads.ms,
    bothThreadsCpu: bothThreads.cpuMs,
  }),
);
