/**
 * The smoke test's task module, in TypeScript: every runtime's workers import
 * it with the parent's own loader (native type stripping on Node 24, Deno and
 * Bun). `cachedCube` is a cached function run inside the workers, all of
 * them sharing the cache under LARDER_SMOKE_DIR; each real computation
 * leaves a file in LARDER_SMOKE_DIR/computed so the parent can count them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { Memory } from '@larder/memory';
import { tasks } from '@larder/parallel/tasks';
import { double } from './smoke-helper.ts';

const dir = process.env.LARDER_SMOKE_DIR;
if (!dir) throw new Error('smoke-tasks: set LARDER_SMOKE_DIR');
const memory = new Memory(join(dir, 'worker-cache'));

function square(x: number): number {
  return x * x;
}

function cube(x: number): Float64Array {
  writeFileSync(join(dir!, 'computed', `cube-${x}-${threadId}-${process.hrtime.bigint()}`), '');
  return Float64Array.of(x * x * x, threadId);
}

/**
 * How this thread sees the TypeScript it loaded: the text of a function of
 * this module and of one imported from another .ts file (types stripped),
 * and whether Node's type stripper was started in this thread (undefined
 * off Node, where there is no module list to look at).
 */
function typescriptTexts(): { square: string; double: string; stripperStarted: boolean | undefined } {
  const loaded = (process as { moduleLoadList?: string[] }).moduleLoadList;
  const stripperStarted = 'deno' in process.versions || 'bun' in process.versions || !loaded ? undefined : loaded.some((name) => name.includes('amaro'));
  return { square: square.toString(), double: double.toString(), stripperStarted };
}

export const smoke = tasks(import.meta.url, { square, cachedCube: memory.cache(cube), typescriptTexts });
