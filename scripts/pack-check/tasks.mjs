// A task module as a plain-JavaScript user writes one.
import { tasks } from '@larder/parallel';

function square(x) {
  return x * x;
}

export const work = tasks(import.meta.url, { square });
