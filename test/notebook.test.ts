/**
 * examples/notebook.ipynb, executed headlessly twice in each TypeScript
 * kernel (tslab on Node, Deno's) by Debian's Jupyter (nbconvert + nbclient):
 * the second execution must serve the 2-second cell from the cache, and the
 * Parallel cell (tasks in examples/notebook-tasks.mjs) must give the same
 * results. Kernels import the packages' built dist/ (`pnpm build` first;
 * `pnpm verify` does). scripts/install-jupyter.sh installs what it needs.
 * Missing pieces skip the test locally with the reason, and fail it on CI.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const notebook = join(repoRoot, 'examples', 'notebook.ipynb');
const JUPYTER = '/usr/bin/jupyter';
const onCi = process.env.CI === 'true';
const work = mkdtempSync(join(tmpdir(), 'larder-notebook-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What keeps `kernel` from running here, or undefined when nothing does. */
function missing(kernel: string): string | undefined {
  if (!existsSync(JUPYTER)) return `${JUPYTER} is not installed (bash scripts/install-jupyter.sh installs Jupyter and both kernels)`;
  const list = spawnSync(JUPYTER, ['kernelspec', 'list', '--json'], { encoding: 'utf8' });
  const specs = list.status === 0 ? Object.keys((JSON.parse(list.stdout) as { kernelspecs: Record<string, unknown> }).kernelspecs) : [];
  if (!specs.includes(kernel)) return `the ${kernel} kernel is not installed in Jupyter (bash scripts/install-jupyter.sh)`;
  for (const name of ['store-fs', 'memory', 'parallel']) {
    if (!existsSync(join(repoRoot, 'packages', name, 'dist', 'index.js'))) return `packages/${name}/dist is not built: kernels import the built packages (pnpm build)`;
  }
  return undefined;
}

interface CellOutput {
  output_type: string;
  text?: string | string[];
  ename?: string;
  evalue?: string;
}

/** Executes the notebook once in `kernel` with `cache` as its cache folder; returns every code cell's printed text, in order. */
async function execute(kernel: string, cache: string, run: string): Promise<string> {
  const output = `${kernel}-${run}.ipynb`;
  await promisify(execFile)(
    JUPYTER,
    ['nbconvert', '--to', 'notebook', '--execute', notebook, '--output-dir', work, '--output', output, `--ExecutePreprocessor.kernel_name=${kernel}`, '--ExecutePreprocessor.timeout=600'],
    { cwd: repoRoot, env: { ...process.env, LARDER_NOTEBOOK_CACHE: cache }, timeout: 900_000, maxBuffer: 16 << 20 },
  );
  const executed = JSON.parse(readFileSync(join(work, output), 'utf8')) as { cells: Array<{ cell_type: string; outputs?: CellOutput[] }> };
  const texts: string[] = [];
  for (const cell of executed.cells) {
    for (const out of cell.outputs ?? []) {
      if (out.output_type === 'error') throw new Error(`a cell failed in ${kernel}: ${out.ename}: ${out.evalue}`);
      if (out.text !== undefined) texts.push(Array.isArray(out.text) ? out.text.join('') : out.text);
    }
  }
  return texts.join('');
}

describe('examples/notebook.ipynb re-executed headlessly', () => {
  for (const kernel of ['tslab', 'deno']) {
    it(`${kernel}: the second execution serves the 2-second cell from the cache, and Parallel gives the same results`, async (context) => {
      const reason = missing(kernel);
      if (reason) {
        if (onCi) throw new Error(`notebook test cannot run on CI: ${reason}`);
        console.warn(`\n*** SKIPPED notebook test (${kernel}): ${reason} ***\n`);
        context.skip();
        return;
      }
      const cache = join(work, `${kernel}-cache`);
      const first = await execute(kernel, cache, 'first');
      const second = await execute(kernel, cache, 'second');
      expect(first).toMatch(/slowSquare\(12\) = 144: computed in \d+ ms/);
      expect(second).toMatch(/slowSquare\(12\) = 144: from the cache in \d+ ms/);
      const pool = /simulate over 2 workers: ([\d, ]+) in \d+ ms/;
      expect(first).toMatch(pool);
      expect(pool.exec(second)?.[1]).toBe(pool.exec(first)?.[1]);
      expect(first).toMatch(/cache: 5 entries, 0 hits, 5 misses/);
      // No new miss the second time: the square and the four tasks the workers ran were hits
      // (the workers' hit counts reach the index when the pool closes).
      expect(second).toMatch(/cache: 5 entries, [1-5] hits, 5 misses/);
    }, 1_200_000);
  }
});
