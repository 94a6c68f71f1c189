/**
 * The pool's type stripping for workers (packages/parallel/src/worker-typescript.ts),
 * run on a Node that strips types natively, from the built package: a worker
 * given the parent's stripped sources loads the same function text as the
 * parent without starting Node's type stripper; a file edited after the
 * parent stripped it is stripped in the worker instead, as Node would, and
 * by a pool made after the edit; files
 * under node_modules are left to Node (which refuses to strip them); and the
 * parent prints no experimental warning for larder's own use of the stripper.
 * Prints one JSON line that runtimes.test.ts checks.
 *
 *   node test/runtimes/stripped-sources.ts
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

const workerTypeScript = new URL('../../packages/parallel/dist/worker-typescript.js', import.meta.url).href;
const { stripForWorkers } = (await import(workerTypeScript)) as typeof import('../../packages/parallel/src/worker-typescript.ts');

const warnings: string[] = [];
process.on('warning', (warning) => warnings.push(`${warning.name}: ${warning.message}`));

const dir = mkdtempSync(join(tmpdir(), 'larder-stripped-'));
try {
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  writeFileSync(join(dir, 'a.ts'), "import { b } from './b.ts';\nexport { b };\nexport function a(x: number): number {\n  return b(x) + 1;\n}\n");
  writeFileSync(join(dir, 'b.ts'), 'export function b(x: number): number {\n  return x * 2;\n}\n');
  mkdirSync(join(dir, 'node_modules', 'dep'), { recursive: true });
  writeFileSync(join(dir, 'node_modules', 'dep', 'c.ts'), 'export const c: number = 1;\n');
  const aUrl = pathToFileURL(join(dir, 'a.ts')).href;

  const sources = stripForWorkers(aUrl);
  const parent = (await import(aUrl)) as { a: (x: number) => number; b: (x: number) => number };

  /** Imports a.ts in a new worker that serves `sources` to its loader. */
  const inWorker = async (): Promise<{ a: string; b: string; stripperStarted: boolean }> => {
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.workerTypeScript).then(async ({ serveStrippedSources }) => {
        serveStrippedSources(workerData.sources);
        const m = await import(workerData.aUrl);
        parentPort.postMessage({ a: m.a.toString(), b: m.b.toString(), stripperStarted: process.moduleLoadList.some((name) => name.includes('amaro')) });
      });`;
    const worker = new Worker(code, { eval: true, workerData: { workerTypeScript, sources, aUrl } });
    try {
      return await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    } finally {
      await worker.terminate();
    }
  };

  const served = await inWorker();
  writeFileSync(join(dir, 'b.ts'), 'export function b(x: number): number {\n  return x * 3;\n}\n');
  const afterEdit = await inWorker();
  // A pool made after the edit strips the new text (what the process stripped before is not reused).
  const restripped = stripForWorkers(aUrl)[pathToFileURL(join(dir, 'b.ts')).href]?.js.includes('return x * 3;');
  const underNodeModules = Object.keys(stripForWorkers(pathToFileURL(join(dir, 'node_modules', 'dep', 'c.ts')).href));
  // Warnings are emitted on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  console.log(
    JSON.stringify({
      files: Object.keys(sources).map((url) => url.slice(url.lastIndexOf('/') + 1)).sort(),
      parent: { a: parent.a.toString(), b: parent.b.toString() },
      served,
      afterEdit,
      restripped,
      underNodeModules,
      warnings,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
