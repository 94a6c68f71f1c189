/**
 * Parallel across machines: backend 'bullmq' with larder-worker processes.
 * A joblib user reaches for dask or ray here; larder puts batches on a BullMQ
 * queue in Redis and any machine running `larder-worker` takes them.
 *
 * This script plays both parts on one machine: it starts two larder-worker
 * processes (each in its own temp folder, as if on its own host), then maps
 * a Monte Carlo sweep over them and sends them a 16 MB signal through the
 * transfer store. Needs a Redis: `bash scripts/services.sh start`, then
 *
 *   eval "$(bash scripts/services.sh env)"; pnpm tsx examples/scale-out.ts
 *
 * (or LARDER_REDIS_URL=redis://host:6379). On real machines, start the workers with
 *   npx larder-worker --connection redis://queue-host:6379 --queue sweep --store s3://sweeps/transfer --concurrency 4 --root /srv/project
 * and give the pool a store every worker reaches and was started with (--store: a shared folder, or
 * s3://bucket/prefix; a worker opens no other store a job names). With the
 * AWS_* settings of scripts/services.sh in the environment, this script uses s3://larder-examples/….
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { delayed, Parallel } from '@larder/parallel';
import { ensureBucket, EXAMPLE_BUCKET, s3Settings } from './lib/s3-bucket.js';
import { sized } from './lib/size.js';
import { sweep } from './tasks/sweep.js';

const connection = process.env.LARDER_REDIS_URL ?? process.env.LARDER_TEST_REDIS_URL;
if (!connection) {
  console.error('scale-out: no Redis. Start one with `bash scripts/services.sh start`, then eval "$(bash scripts/services.sh env)"');
  process.exit(1);
}
const queue = `larder-example-sweep-${process.pid}`;
const repo = fileURLToPath(new URL('..', import.meta.url));
// Large arrays travel through a store every machine reaches: S3 when the AWS_* settings are there
// (the workers read them from the same environment), else a folder (one machine shares it).
const s3 = s3Settings();
if (s3) await ensureBucket(s3);
const folder = s3 ? undefined : mkdtempSync(join(tmpdir(), 'larder-transfer-'));
const store = folder ?? `s3://${EXAMPLE_BUCKET}/transfer-${process.pid}`;

/** One larder-worker, as `npx larder-worker ...` would start it on another machine. */
function startWorker(): Promise<ChildProcess> {
  const bin = join(repo, 'packages/parallel/src/larder-worker.ts'); // the installed package's bin is dist/larder-worker.js
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const home = mkdtempSync(join(tmpdir(), 'larder-host-'));
  const child = spawn(process.execPath, ['--conditions=larder-source', '--import', tsx, bin, '--connection', connection!, '--queue', queue, '--store', store, '--concurrency', '1', '--root', repo], {
    cwd: home,
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  child.once('exit', () => rmSync(home, { recursive: true, force: true }));
  return new Promise((resolve, reject) => {
    let said = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      if (said.includes('serving queue')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`larder-worker exited with ${code}:\n${said}`)));
  });
}

// Task modules resolve on the workers by their path relative to this process's working directory.
process.chdir(repo);
const workers = await Promise.all([startWorker(), startWorker()]);
console.log(`two larder-worker processes serve queue ${queue} (pids ${workers.map((w) => w.pid).join(', ')})`);
try {
  await using pool = new Parallel({ backend: 'bullmq', connection, queue, store, nJobs: 2 });

  const seeds = Array.from({ length: sized(16, 8) }, (_, i) => i + 1);
  const samples = sized(2_000_000, 200_000);
  const started = performance.now();
  const estimates = await pool.run(seeds.map((seed) => delayed(sweep.estimatePi)(seed, samples)));
  const mean = estimates.reduce((sum, e) => sum + e.pi, 0) / estimates.length;
  const pids = new Set(estimates.map((e) => e.pid));
  console.log(`π ≈ ${mean.toFixed(4)} from ${seeds.length} seeds × ${samples} samples in ${(performance.now() - started).toFixed(0)} ms, computed by ${pids.size} worker process${pids.size === 1 ? '' : 'es'}`);

  const signal = Float64Array.from({ length: 2_000_000 }, (_, i) => Math.sin(i / 1000)); // 16 MB: above maxNbytes, so it goes through the store
  const windows = [0, 500_000, 1_000_000, 1_500_000];
  const means = await pool.run(windows.map((start) => delayed(sweep.windowMean)(signal, start, 500_000)));
  console.log(`window means of a 16 MB signal sent through the store (${store}): ${means.map((m) => m.toFixed(4)).join(', ')}`);
} finally {
  for (const worker of workers) worker.kill('SIGTERM'); // workers finish their batches, run their teardown hooks, exit
  await Promise.all(workers.map((worker) => new Promise((resolve) => (worker.exitCode !== null ? resolve(null) : worker.once('exit', resolve)))));
  if (folder) rmSync(folder, { recursive: true, force: true });
}
