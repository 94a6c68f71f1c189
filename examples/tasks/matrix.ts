/** Task module of parallel-dot: one block of rows of A·B per task. */
import { tasks } from '@larder/parallel/tasks';

/**
 * Rows `rowStart`..`rowEnd` of A·B for n×n row-major matrices. The i-k-j loop
 * order walks B and the output row by row, which keeps the inner loop in cache.
 */
function multiplyRows(a: Float64Array, b: Float64Array, n: number, rowStart: number, rowEnd: number): Float64Array {
  const block = new Float64Array((rowEnd - rowStart) * n);
  for (let i = rowStart; i < rowEnd; i++) {
    const outRow = (i - rowStart) * n;
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      const bRow = k * n;
      for (let j = 0; j < n; j++) block[outRow + j]! += aik * b[bRow + j]!;
    }
  }
  return block;
}

/** Keeps a worker busy for `ms`, so a warm-up reaches every worker before the timing starts. */
function warmUp(ms: number): number {
  const end = performance.now() + ms;
  while (performance.now() < end);
  return ms;
}

export const matrix = tasks(import.meta.url, { multiplyRows, warmUp });
