/**
 * Pool cold start on a runtime that strips TypeScript types itself, run by
 * bench/parallel.ts as `node24 bench/cold-start-native.ts` (no tsx, no
 * larder-source condition: the built packages, as a user's install gives
 * them). The task module is TypeScript, imported by the workers natively,
 * like the parent. Prints one JSON line: the median cold start and, as the
 * baseline, one bare Worker to its first message, both in ms.
 */
import { Worker } from 'node:worker_threads';
import { Parallel } from '@larder/parallel';
import { medianMs } from './harness.ts';
import { parallelTasks } from './tasks/parallel-tasks.ts';

const larder = await medianMs(async () => {
  await using pool = new Parallel({ nJobs: 2 });
  await pool.map(parallelTasks.addTwo, [1]);
}, 7, 1);
const baseline = await medianMs(async () => {
  const worker = new Worker('require("node:worker_threads").parentPort.postMessage(1)', { eval: true });
  await new Promise((resolve) => worker.once('message', resolve));
  await worker.terminate();
}, 7, 1);
console.log(JSON.stringify({ version: process.version, larder, baseline }));
