/**
 * One smoke run of larder on the runtime that runs this file (Node 24 with
 * native type stripping, Deno, Bun), from the built packages: dump/load
 * (eager and mmap), a Memory miss in the first run and a hit in the second
 * (run it twice with the same LARDER_SMOKE_DIR), Parallel over a TypeScript
 * task module, and a cached function inside the workers. Prints one JSON
 * line that runtimes.test.ts checks.
 *
 *   LARDER_SMOKE_DIR=/tmp/s deno run -A test/runtimes/smoke.ts
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Memory } from '@larder/memory';
import { Parallel } from '@larder/parallel';
import { dump, load } from '@larder/store-fs';
import { smoke } from './smoke-tasks.ts';

const dir = process.env.LARDER_SMOKE_DIR!;
mkdirSync(join(dir, 'computed'), { recursive: true });
const runtime = 'deno' in process.versions ? `deno ${process.versions.deno}` : 'bun' in process.versions ? `bun ${process.versions.bun}` : `node ${process.version}`;

async function storeFs(): Promise<Record<string, unknown>> {
  const file = join(dir, 'value.larder');
  const samples = Float64Array.from({ length: 200_000 }, (_, i) => i / 2);
  await dump({ name: 'smoke', samples, big: 2n ** 70n, when: new Date(0), tags: new Set(['a']) }, file);
  const eager = await load<{ name: string; samples: Float64Array; big: bigint; when: Date; tags: Set<string> }>(file);
  const mapped = await load<{ samples: Float64Array }>(file, { mmap: 'r' });
  return {
    eager: [eager.name, eager.samples.length, eager.samples[199_999], String(eager.big), eager.when.getTime(), [...eager.tags]],
    mapped: [mapped.samples.length, mapped.samples.at(-1), mapped.samples.constructor.name],
  };
}

async function memoryAcrossProcesses(): Promise<Record<string, unknown>> {
  const warnings: string[] = [];
  const memory = new Memory(join(dir, 'cache'), { onWarning: (w) => warnings.push(w.code) });
  try {
    let computed = 0;
    const mean = memory.cache(function mean(xs: Float64Array): number {
      computed++;
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    });
    const arg = Float64Array.of(1, 2, 3, 6);
    const cachedBefore = await mean.isCached(arg);
    const value = await mean(arg);
    // The index (node:sqlite on Node >= 22.13, bun:sqlite on Bun, else sqlite3): it lists the entry and counts the hit.
    const stats = await memory.stats();
    return { cachedBefore, value, computed, indexedEntries: stats.entries, hits: stats.hits, warnings };
  } finally {
    await memory.close();
  }
}

async function parallel(): Promise<Record<string, unknown>> {
  // try/finally, not `await using`: Node 22's V8 has no explicit resource management.
  const pool = new Parallel({ nJobs: 2 });
  try {
    return await runPool(pool);
  } finally {
    await pool.close();
  }
}

async function runPool(pool: Parallel): Promise<Record<string, unknown>> {
  // One task first: the pool starts one thread for it, and its second thread
  // only when a later call needs it; that thread too must load the task
  // module as the parent did (the typescript check below).
  await pool.map(smoke.square, [0]);
  const squares = await pool.map(smoke.square, [1, 2, 3, 4, 5, 6, 7, 8]);
  const cubes = await pool.map(smoke.cachedCube, [2, 3, 4], { batchSize: 1 });
  // Computed here, then asked of the workers: they load the task module with
  // this thread's loader, so the function's identity matches and they hit.
  await smoke.cachedCube(5);
  const [fromWorker] = await pool.map(smoke.cachedCube, [5]);
  // Every worker's view of the TypeScript it loaded (one batch per task, more tasks than workers).
  const texts = await pool.map(smoke.typescriptTexts, Array.from({ length: 8 }, () => undefined), { batchSize: 1 });
  return {
    typescript: { parent: smoke.typescriptTexts(), workers: texts },
    squares,
    cubes: cubes.map((c) => c[0]),
    workerThreads: [...new Set(cubes.map((c) => c[1]))].every((id) => id! > 0),
    computedSoFar: readdirSync(join(dir, 'computed')).filter((name) => !name.startsWith('cube-5-')).length,
    fromWorker: fromWorker![0],
    timesCube5Computed: readdirSync(join(dir, 'computed')).filter((name) => name.startsWith('cube-5-')).length,
  };
}

const report = { runtime, storeFs: await storeFs(), memory: await memoryAcrossProcesses(), parallel: await parallel() };
console.log(JSON.stringify(report));
