/**
 * Task module of nested-loops: the outer loop's body runs in a worker and
 * itself calls Parallel for the inner loop. Inside a worker, Parallel
 * defaults to nJobs 1, so the inner loop runs in that worker's thread instead
 * of starting workers of its own (no oversubscription).
 */
import { threadId } from 'node:worker_threads';
import { Parallel, delayed, tasks } from '@larder/parallel';

function product(i: number, j: number): number {
  return i * j;
}

/** Row i of the i·j table, its inner loop written with Parallel as if it were top-level code. */
async function row(i: number, n: number): Promise<{ values: number[]; innerNJobs: number; threadId: number }> {
  await using inner = new Parallel();
  const values = await inner.run(Array.from({ length: n }, (_, j) => delayed(nested.product)(i, j)));
  return { values, innerNJobs: inner.nJobs, threadId };
}

export const nested = tasks(import.meta.url, { product, row });
