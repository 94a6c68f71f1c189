// @ts-check
/**
 * The file piscina loads in every worker. Plain JavaScript on purpose: it
 * must run before any TypeScript loader exists, both from dist/ (where
 * worker.js sits beside it) and from src/ under vitest or tsx (where only
 * worker.ts exists, and Node 20 workers do not inherit tsx's loader hooks
 * through execArgv, so tsx is registered here, in the worker itself).
 *
 * TypeScript task modules load with the parent's loader (workerData.typescript,
 * chosen by worker-flags.ts): 'tsx', or 'native' where the parent itself
 * strips types (Node 22.18+ running a .ts entry, Deno, Bun), so a function's
 * text, part of its cache identity, is the same in the parent and here.
 */
import { fileURLToPath } from 'node:url';
import { workerData } from 'node:worker_threads';

// Every import here is part of each worker's start. node:fs and node:module
// come through getBuiltinModule, not ES imports: an ES import of a built-in
// builds its namespace from every export, which runs the module's lazy
// getters (fs.promises, fs streams and readline; module.SourceMap...): ~15
// more built-in modules for the thread to compile, ~3 ms of CPU. The package's
// other modules that workers load do the same (entry-script.ts).
const { existsSync } = process.getBuiltinModule('node:fs');
const nodeModule = process.getBuiltinModule('node:module');
const { createRequire } = nodeModule;

// Node's module compile cache (22.1+) for this thread: V8's code cache for
// the modules a worker loads (this package, the task module and what it
// imports), kept in Node's own cache folder (os.tmpdir()/node-compile-cache,
// or NODE_COMPILE_CACHE), so the next pool's workers compile none of them
// again. It holds only V8's code cache, keyed by each file's contents, and
// NODE_DISABLE_COMPILE_CACHE=1 turns it off, as for any Node process.
// Deno and Bun have their own caches.
// enableCompileCache is beyond @types/node 20's declarations.
const moduleApi = /** @type {{ enableCompileCache?: () => unknown }} */ (/** @type {unknown} */ (nodeModule));
if (!('bun' in process.versions || 'deno' in process.versions)) moduleApi.enableCompileCache?.();

const sourceWorker = new URL('./worker.ts', import.meta.url);
/** @type {'tsx' | 'native'} */
const typescript = workerData?.typescript === 'native' ? 'native' : 'tsx';
let registered = false;

/**
 * Makes TypeScript importable in this thread: registers tsx's ESM loader,
 * once, unless the runtime strips types natively like the parent. tsx is an
 * optional peer dependency: looked up from this package, then from the task module.
 * @param {string} fromUrl the module that needs it
 */
async function ensureTypeScript(fromUrl) {
  if (registered || typescript === 'native') return;
  await registerTsx(fromUrl);
}

/** @param {string} fromUrl */
async function registerTsx(fromUrl) {
  if (registered) return;
  (await loadTsx(fromUrl)).register();
  registered = true;
}

/**
 * @param {string} fromUrl
 * @returns {Promise<{ register: () => unknown }>}
 */
async function loadTsx(fromUrl) {
  try {
    return await import('tsx/esm/api');
  } catch {
    try {
      return await import(createRequire(fromUrl).resolve('tsx/esm/api'));
    } catch (cause) {
      const error = new Error(
        `[larder/parallel] ${fromUrl} is TypeScript and worker threads need tsx to import it: install tsx (npm i -D tsx), or build the task module to .js`,
        { cause },
      );
      Object.assign(error, { code: 'LARDER_MISSING_DRIVER' });
      throw error;
    }
  }
}

async function loadRunner() {
  if (existsSync(fileURLToPath(sourceWorker))) {
    // The package's own source (tests, benches) imports './x.js' for x.ts,
    // which Node's type stripping does not map; Deno and Bun do.
    if (!('bun' in process.versions || 'deno' in process.versions)) await registerTsx(sourceWorker.href);
    return (await import(sourceWorker.href)).createBatchRunner(ensureTypeScript);
  }
  return (await import('./worker.js')).createBatchRunner(ensureTypeScript);
}

// Loaded as soon as piscina imports this file, not at the first batch: the
// thread loads the runner while its "ready" message goes to the pool and the
// first batch comes back. A failure to load is that batch's error (caught
// here only so that it is not an unhandled rejection before the batch).
const runner = loadRunner();
runner.catch(() => {});

/** @param {unknown} request */
export default async function handler(request) {
  return (await runner)(request);
}
