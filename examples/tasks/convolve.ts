/**
 * The demo's task module. Worker threads import it to find their task, so
 * each worker opens the same cache folder and runs the cache check and the
 * store itself: the workers share one cache, and so does the next run.
 */
import { Memory } from '@larder/memory';
import { tasks } from '@larder/parallel/tasks';

/** `.larder` in the working directory, with its SQLite index inside: the embedded defaults. */
export const CACHE_FOLDER = '.larder';
export const memory = new Memory(CACHE_FOLDER);

/**
 * Direct 1-D convolution, same length as the signal (zero padding). Direct,
 * not FFT: O(signal × kernel) multiply-adds, the kind of cost worth caching.
 */
export function convolve(signal: Float64Array, kernel: Float64Array): Float64Array {
  const out = new Float64Array(signal.length);
  const half = kernel.length >> 1;
  for (let i = 0; i < signal.length; i++) {
    const first = Math.max(0, half - i);
    const last = Math.min(kernel.length, signal.length + half - i);
    let sum = 0;
    for (let k = first; k < last; k++) sum += kernel[k]! * signal[i + half - k]!;
    out[i] = sum;
  }
  return out;
}

export const { convolveKernel } = tasks(import.meta.url, {
  convolveKernel: memory.cache(convolve, { name: 'convolveKernel' }),
});
