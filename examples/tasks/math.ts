/** Task module of the sqrt, accumulate and progress examples: tiny and busy tasks. */
import { tasks } from '@larder/parallel/tasks';

function sqrt(x: number): number {
  return Math.sqrt(x);
}

/** Spins for `ms` milliseconds of CPU and returns the task's number: a stand-in for real work. */
function busy(taskNumber: number, ms: number): number {
  const end = performance.now() + ms;
  while (performance.now() < end);
  return taskNumber;
}

export const math = tasks(import.meta.url, { sqrt, busy });
