// The tasks examples/notebook.ipynb runs on worker threads. A notebook cell
// has no import.meta.url and a worker cannot receive a closure, so tasks live
// in a module next to the notebook that both the notebook and the workers
// import. Plain JavaScript (.mjs), so every kernel and every worker loads it
// without a TypeScript loader: tslab's CommonJS cells require() it, Deno
// imports it, and Node workers import it as is.
import { Memory } from '@larder/memory';
import { tasks } from '@larder/parallel/tasks';

// The notebook's cache folder (the kernel's working directory is the
// notebook's folder; the test points both runs at one folder through the
// environment). Workers open it too: one location, shared.
const memory = new Memory(process.env.LARDER_NOTEBOOK_CACHE ?? '.larder-notebook');

/** A 1-second stand-in for an expensive simulation, deterministic in its seed. */
async function simulate(seed) {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  let x = seed;
  for (let i = 0; i < 1000; i++) x = (x * 1103515245 + 12345) % 2147483648;
  return x;
}

export const work = tasks(import.meta.url, { simulate: memory.cache(simulate) });
