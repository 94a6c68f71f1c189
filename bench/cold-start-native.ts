/**
 * Pool cold start on a runtime that strips TypeScript types itself, run by
 * bench/parallel.ts as `node24 bench/cold-start-native.ts` (no tsx, no
 * larder-source condition: the built packages, as a user's install gives
 * them). The task module is TypeScript, stripped once by the pool for its
 * workers (worker-typescript.ts), as the parent's own loader stripped it.
 * Prints one JSON line, in ms: the median cold start (new pool to first
 * result and closed), its two parts (to the first result; close()), and, as
 * the baseline, one bare Worker to its first message and terminated.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Parallel } from '@larder/parallel';
import { median, medianMs } from './harness.ts';
import { parallelTasks } from './tasks/parallel-tasks.ts';

const firstResults: number[] = [];
const closes: number[] = [];
const larder = await medianMs(async () => {
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
}, 9, 1);
const baseline = await medianMs(async () => {
  const worker = new Worker('require("node:worker_threads").parentPort.postMessage(1)', { eval: true });
  await new Promise((resolve) => worker.once('message', resolve));
  await worker.terminate();
}, 9, 1);
// The warmup run is not a sample.
console.log(JSON.stringify({ version: process.version, larder, baseline, firstResult: median(firstResults.slice(1)), close: median(closes.slice(1)) }));
