/**
 * cached-pipeline — joblib's "Memory in a pipeline" example: simulate →
 * summarize, each step cached. Rerun with the same parameters and nothing is
 * computed; change the summary's window and only summarize reruns (the
 * simulation comes from the cache); change the simulation's seed and both rerun.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Memory } from '@larder/memory';
import { seededRandom } from './lib/random.js';
import { sized } from './lib/size.js';

const steps = sized(2_000_000, 50_000);
const computed: string[] = []; // which step bodies actually ran (closure state is not part of the cache key)

function simulate(steps: number, seed: number): Float64Array {
  computed.push('simulate');
  const random = seededRandom(seed);
  const walk = new Float64Array(steps);
  for (let i = 1; i < steps; i++) walk[i] = walk[i - 1]! + random() - 0.5;
  return walk;
}

function summarize(walk: Float64Array, window: number): { mean: number; maxMovingAverage: number } {
  computed.push('summarize');
  let windowSum = 0;
  let total = 0;
  let maxMovingAverage = -Infinity;
  for (let i = 0; i < walk.length; i++) {
    total += walk[i]!;
    windowSum += walk[i]! - (i >= window ? walk[i - window]! : 0);
    if (i >= window - 1) maxMovingAverage = Math.max(maxMovingAverage, windowSum / window);
  }
  return { mean: total / walk.length, maxMovingAverage };
}

const location = await mkdtemp(path.join(os.tmpdir(), 'larder-pipeline-'));
try {
  await using memory = new Memory(location);
  const cachedSimulate = memory.cache(simulate);
  const cachedSummarize = memory.cache(summarize);

  async function pipeline(label: string, seed: number, window: number): Promise<void> {
    computed.length = 0;
    const start = performance.now();
    const summary = await cachedSummarize(await cachedSimulate(steps, seed), window);
    const ran = computed.length === 0 ? 'nothing (both steps from the cache)' : computed.join(' + ');
    console.log(`${label.padEnd(34)} computed: ${ran.padEnd(36)} ${(performance.now() - start).toFixed(0).padStart(5)} ms`);
    console.log(`${''.padEnd(34)} mean ${summary.mean.toFixed(4)}, max moving average ${summary.maxMovingAverage.toFixed(4)}`);
  }

  console.log(`pipeline: simulate(${steps.toLocaleString('en')} steps, seed) → summarize(walk, window), both cached in a fresh folder\n`);
  await pipeline('1. seed 1, window 100', 1, 100);
  await pipeline('2. the same again', 1, 100);
  await pipeline('3. window 500 (summary changed)', 1, 500);
  await pipeline('4. seed 2 (simulation changed)', 2, 500);
  console.log('\nOnly affected steps rerun: a new window reruns summarize alone, a new seed reruns both.');
  const stats = await memory.stats();
  console.log(`cache: ${stats.entries} entries, ${stats.hits} hits, ${stats.misses} misses`);
} finally {
  await rm(location, { recursive: true, force: true });
}
