// @ts-check
/**
 * The file piscina loads in every worker. Plain JavaScript on purpose: it
 * must run before any TypeScript loader exists, both from dist/ (where
 * worker.js sits beside it) and from src/ under vitest or tsx (where only
 * worker.ts exists, and Node 20 workers do not inherit tsx's loader hooks
 * through execArgv, so tsx is registered here, in the worker itself).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const sourceWorker = new URL('./worker.ts', import.meta.url);
let registered = false;

/**
 * Registers tsx's ESM loader in this thread, once. tsx is an optional peer
 * dependency: looked up from this package, then from the task module.
 * @param {string} fromUrl the module that needs it
 */
async function ensureTypeScript(fromUrl) {
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

/** @type {Promise<(request: unknown) => Promise<unknown>> | undefined} */
let runner;

async function loadRunner() {
  if (existsSync(fileURLToPath(sourceWorker))) {
    await ensureTypeScript(sourceWorker.href);
    return (await import(sourceWorker.href)).createBatchRunner(ensureTypeScript);
  }
  return (await import('./worker.js')).createBatchRunner(ensureTypeScript);
}

/** @param {unknown} request */
export default async function handler(request) {
  runner ??= loadRunner();
  return (await runner)(request);
}
