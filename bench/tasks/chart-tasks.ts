/**
 * Tasks for bench/charts.ts. Worker threads import this module by URL and find
 * each function by its key (see `tasks()` in @larder/parallel).
 */
import { tasks } from '@larder/parallel/tasks';

/**
 * CPU-bound work proportional to `iterations` (about a nanosecond each), with
 * no allocation and no I/O. The result depends on every iteration, so the JIT
 * cannot drop the loop.
 */
function spin(iterations: number): number {
  let state = 0;
  for (let i = 0; i < iterations; i++) state = (Math.imul(state, 31) + i) | 0;
  return state;
}

/** Task handles of the chart benchmarks: `spin(iterations)`. */
export const chartTasks = tasks(import.meta.url, { spin });
