// A task module as a TypeScript user writes one (compiled to dist/ by tsc).
import { tasks } from '@larder/parallel/tasks';

function cube(x: number): number {
  return x * x * x;
}

export const work = tasks(import.meta.url, { cube });
