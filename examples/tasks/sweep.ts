/**
 * Tasks of examples/scale-out.ts, run by larder-worker processes: a
 * Monte Carlo estimate of π per seed, and a windowed mean over a large
 * signal that reaches the workers through the pool's store.
 */
import { tasks } from '@larder/parallel/tasks';
import { seededRandom } from '../lib/random.js';

/** π estimated from `samples` seeded points in the unit square. */
function estimatePi(seed: number, samples: number): { seed: number; pi: number; pid: number } {
  const random = seededRandom(seed);
  let inside = 0;
  for (let i = 0; i < samples; i++) {
    const x = random();
    const y = random();
    if (x * x + y * y <= 1) inside++;
  }
  return { seed, pi: (4 * inside) / samples, pid: process.pid };
}

/** The mean of `signal[start, start + length)`. */
function windowMean(signal: Float64Array, start: number, length: number): number {
  let sum = 0;
  for (let i = start; i < start + length; i++) sum += signal[i]!;
  return sum / length;
}

export const sweep = tasks(import.meta.url, { estimatePi, windowMean });
