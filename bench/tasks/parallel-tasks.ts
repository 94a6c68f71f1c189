/**
 * Tasks for bench/parallel.ts. Worker threads import this module by URL and
 * find each function by its key in `tasks()`.
 */
import { tasks } from '@larder/parallel/tasks';

/** The trivial task: x + 2. */
function addTwo(x: number): number {
  return x + 2;
}

/** Sums `data[start, end)`; with a shared `data`, reading is all it costs. */
function sumRange(data: Float64Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += data[i]!;
  return sum;
}

/**
 * Rows [rowStart, rowEnd) of A·B for n×n row-major matrices, i-k-j order so
 * the inner loop streams through B and the output row.
 */
function matmulRows(a: Float64Array, b: Float64Array, n: number, rowStart: number, rowEnd: number): Float64Array {
  const out = new Float64Array((rowEnd - rowStart) * n);
  for (let i = rowStart; i < rowEnd; i++) {
    const outRow = (i - rowStart) * n;
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      const bRow = k * n;
      for (let j = 0; j < n; j++) out[outRow + j]! += aik * b[bRow + j]!;
    }
  }
  return out;
}

/** Task handles of bench/parallel.ts. */
export const parallelTasks = tasks(import.meta.url, { addTwo, sumRange, matmulRows });
