/** Task module of memmap: workers read their part of an array the caller shares with them. */
import { tasks } from '@larder/parallel/tasks';

function sumRange(data: Float64Array, start: number, end: number): { sum: number; shared: boolean } {
  let sum = 0;
  for (let i = start; i < end; i++) sum += data[i]!;
  return { sum, shared: data.buffer instanceof SharedArrayBuffer };
}

export const arrays = tasks(import.meta.url, { sumRange });
