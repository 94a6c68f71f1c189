/** The demo's input: a seeded noisy signal and a bank of smoothing and edge kernels. */
import { seededRandom } from './random.js';

/** Three tones plus seeded noise: the same samples on every run. */
export function noisySignal(length: number, seed = 42): Float64Array {
  const random = seededRandom(seed);
  return Float64Array.from({ length }, (_, i) =>
    Math.sin(i / 50) + 0.5 * Math.sin(i / 7.3) + 0.25 * Math.sin(i / 1.9) + (random() - 0.5));
}

function gaussian(length: number, sigma: number, derivative: boolean): Float64Array {
  const half = length >> 1;
  const kernel = Float64Array.from({ length }, (_, k) => {
    const x = k - half;
    const g = Math.exp(-(x * x) / (2 * sigma * sigma));
    return derivative ? (-x / (sigma * sigma)) * g : g;
  });
  if (!derivative) {
    const total = kernel.reduce((a, b) => a + b, 0);
    for (let k = 0; k < length; k++) kernel[k]! /= total;
  }
  return kernel;
}

/** `count` kernels of `length` taps: Gaussian smoothers and Gaussian-derivative edge detectors of growing width. */
export function kernelBank(count: number, length: number): { name: string; kernel: Float64Array }[] {
  return Array.from({ length: count }, (_, i) => {
    const sigma = (length / 8) * (1 + Math.floor(i / 2)) / Math.ceil(count / 2);
    const derivative = i % 2 === 1;
    return { name: `${derivative ? 'edge' : 'smooth'} σ=${sigma.toFixed(1)}`, kernel: gaussian(length | 1, sigma, derivative) };
  });
}
