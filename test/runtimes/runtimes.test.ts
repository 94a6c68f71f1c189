/**
 * larder on the other runtimes it supports: Node 22 and 24 running
 * TypeScript natively, Deno and Bun, each installed by scripts/runtimes.sh. Each runs
 * smoke.ts twice on one scratch folder, from the built packages (as a user's
 * install would give them). A runtime that is not installed skips, saying
 * how to install it; with LARDER_REQUIRE_RUNTIMES=1 (CI) it fails instead.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const smoke = fileURLToPath(new URL('./smoke.ts', import.meta.url));
const required = process.env.LARDER_REQUIRE_RUNTIMES === '1';

/** The installed binary of a runtime, or undefined. */
function runtimeBinary(name: string): string | undefined {
  try {
    return execFileSync('bash', [join(repoRoot, 'scripts/runtimes.sh'), 'where', name], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** How each runtime runs a TypeScript script: the flags it needs and nothing else. */
const RUNTIMES: { name: string; label: string; args: (script: string) => string[] }[] = [
  { name: 'node22', label: 'Node 22 (native type stripping, no tsx)', args: (script) => [script] },
  { name: 'node24', label: 'Node 24 (native type stripping, no tsx)', args: (script) => [script] },
  { name: 'deno', label: 'Deno', args: (script) => ['run', '--allow-read', '--allow-write', '--allow-env', '--allow-ffi', '--allow-sys', script] },
  { name: 'bun', label: 'Bun', args: (script) => [script] },
];

interface SmokeReport {
  runtime: string;
  storeFs: { eager: unknown[]; mapped: unknown[] };
  memory: { cachedBefore: boolean; value: number; computed: number; indexedEntries: number; hits: number; warnings: string[] };
  parallel: {
    squares: number[];
    cubes: number[];
    workerThreads: boolean;
    computedSoFar: number;
    fromWorker: number;
    timesCube5Computed: number;
    typescript: { parent: TypeScriptTexts; workers: TypeScriptTexts[] };
  };
}

/** smoke-tasks.ts's typescriptTexts(): function texts as one thread loaded them, and whether it started Node's type stripper. */
interface TypeScriptTexts {
  square: string;
  double: string;
  stripperStarted: boolean | undefined;
}

const folders: string[] = [];

beforeAll(() => {
  // The smoke runs the built packages, as an installed copy would be.
  const built = ['store-fs', 'memory', 'parallel'].every((name) => existsSync(join(repoRoot, 'packages', name, 'dist/index.js')));
  if (!built) execFileSync('pnpm', ['build'], { cwd: repoRoot, stdio: 'ignore', timeout: 300_000 });
}, 310_000);

afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

describe.each(RUNTIMES)('larder on $label', ({ name, args }) => {
  const binary = runtimeBinary(name);
  if (!binary && required) {
    it('is installed', () => {
      expect.fail(`${name} is not installed: run bash scripts/runtimes.sh`);
    });
    return;
  }

  it.skipIf(!binary)('dump/load (mmap too), a Memory miss then a hit in a second process, Parallel over a TypeScript task module, a cached function in workers', async () => {
    const dir = mkdtempSync(join(tmpdir(), `larder-smoke-${name}-`));
    folders.push(dir);
    const run = async (): Promise<SmokeReport> => {
      const { stdout } = await promisify(execFile)(binary!, args(smoke), { cwd: repoRoot, env: { ...process.env, LARDER_SMOKE_DIR: dir, NODE_OPTIONS: '' }, timeout: 120_000 });
      return JSON.parse(stdout.trim().split('\n').at(-1)!) as SmokeReport;
    };
    const first = await run();
    const second = await run();
    const expectedRuntime = name.startsWith('node') ? new RegExp(`^node v${name.slice(4)}\\.`) : new RegExp(`^${name} `);
    for (const report of [first, second]) {
      expect(report.runtime).toMatch(expectedRuntime);
      expect(report.storeFs.eager).toEqual(['smoke', 200_000, 99_999.5, String(2n ** 70n), 0, ['a']]);
      // The prebuilt Node-API addon loads on every runtime: a real mapped Float64Array, not the MappedArray fallback.
      expect(report.storeFs.mapped).toEqual([200_000, 99_999.5, 'Float64Array']);
      expect(report.memory.value).toBe(3);
      expect(report.parallel.squares).toEqual([1, 4, 9, 16, 25, 36, 49, 64]);
      expect(report.parallel.cubes).toEqual([8, 27, 64]);
      expect(report.parallel.workerThreads).toBe(true);
      expect(report.parallel.fromWorker).toBe(125);
      // Workers see the TypeScript exactly as the parent does (types become
      // whitespace; a function's text is part of its cache identity), for the
      // task module and a .ts file it imports.
      const { parent, workers } = report.parallel.typescript;
      if (name.startsWith('node')) expect(parent.double).toMatch(/^function double\(x {8}\) {9}\{\n  const factor {9}= 2;/);
      expect(workers).toHaveLength(8);
      for (const texts of workers) expect([texts.square, texts.double]).toEqual([parent.square, parent.double]);
      // On Node the pool stripped both files for its workers: none started a stripper of its own.
      const stripper = workers.map((texts) => texts.stripperStarted);
      expect(new Set(stripper)).toEqual(new Set([name.startsWith('node') ? false : undefined]));
    }
    // Memory: a miss in the first process, a hit in the second.
    expect([first.memory.cachedBefore, first.memory.computed]).toEqual([false, 1]);
    expect([second.memory.cachedBefore, second.memory.computed]).toEqual([true, 0]);
    // The index works on every runtime (its built-in SQLite, or sqlite3): it lists the entry, counts the hit, warns nothing.
    expect([first.memory.indexedEntries, first.memory.hits, first.memory.warnings]).toEqual([1, 0, []]);
    expect([second.memory.indexedEntries, second.memory.hits, second.memory.warnings]).toEqual([1, 1, []]);
    // The cached function in workers computed each argument once, over both runs.
    expect(first.parallel.computedSoFar).toBe(3);
    expect(second.parallel.computedSoFar).toBe(3);
    // Workers load the task module with the parent's loader: an entry the
    // parent stored is a hit in a worker, so cube(5) ran once in all.
    expect(second.parallel.timesCube5Computed).toBe(1);
  }, 300_000);
});

/**
 * The pool's type stripping for workers, on each Node that strips types
 * natively (stripped-sources.ts): same text as the parent without a stripper
 * in the worker, an edited file stripped again, node_modules left to Node.
 */
describe.each(RUNTIMES.filter((runtime) => runtime.name.startsWith('node')))('stripped sources on $label', ({ name, args }) => {
  const binary = runtimeBinary(name);
  if (!binary && required) {
    it('is installed', () => {
      expect.fail(`${name} is not installed: run bash scripts/runtimes.sh`);
    });
    return;
  }

  it.skipIf(!binary)('a worker loads the JavaScript the parent stripped, unless the file changed since', async () => {
    const script = fileURLToPath(new URL('./stripped-sources.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(binary!, args(script), { cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: '' }, timeout: 120_000 });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      files: string[];
      parent: { a: string; b: string };
      served: { a: string; b: string; stripperStarted: boolean };
      afterEdit: { a: string; b: string; stripperStarted: boolean };
      restripped: boolean;
      underNodeModules: string[];
      warnings: string[];
    };
    // The task module and the .ts file it imports.
    expect(report.files).toEqual(['a.ts', 'b.ts']);
    expect(report.parent.b).toBe('function b(x        )         {\n  return x * 2;\n}');
    expect(report.served).toEqual({ ...report.parent, stripperStarted: false });
    expect(report.afterEdit).toEqual({ a: report.parent.a, b: 'function b(x        )         {\n  return x * 3;\n}', stripperStarted: true });
    expect(report.restripped).toBe(true);
    expect(report.underNodeModules).toEqual([]);
    expect(report.warnings).toEqual([]);
  }, 150_000);
});

/**
 * `deno install` and `bun install` see this repository's workspace (the root
 * package.json's `workspaces` field; neither reads pnpm-workspace.yaml): run
 * on a copy of the manifests, they link @larder/* to the packages' folders.
 * The copy keeps the root's workspace dependencies only, so the install
 * downloads the packages' own dependencies and not the dev tools.
 */
const INSTALLERS: { name: string; args: string[] }[] = [
  { name: 'deno', args: ['install'] },
  // sqlite3's install script would build the addon; linking is what is checked here.
  { name: 'bun', args: ['install', '--ignore-scripts'] },
];

describe.each(INSTALLERS)('$name install', ({ name, args }) => {
  const binary = runtimeBinary(name);
  if (!binary && required) {
    it('is installed', () => {
      expect.fail(`${name} is not installed: run bash scripts/runtimes.sh`);
    });
    return;
  }

  it.skipIf(!binary)('links the workspace packages from the root package.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), `larder-install-${name}-`));
    folders.push(dir);
    const root = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    root.devDependencies = Object.fromEntries(Object.entries(root.devDependencies).filter(([dep]) => dep.startsWith('@larder/')));
    writeFileSync(join(dir, 'package.json'), JSON.stringify(root, null, 2));
    const packages = ['store-fs', 'memory', 'parallel'];
    for (const pkg of packages) {
      mkdirSync(join(dir, 'packages', pkg), { recursive: true });
      cpSync(join(repoRoot, 'packages', pkg, 'package.json'), join(dir, 'packages', pkg, 'package.json'));
    }
    await promisify(execFile)(binary!, args, { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' }, timeout: 240_000, maxBuffer: 16 << 20 });
    for (const pkg of packages) expect(realpathSync(join(dir, 'node_modules/@larder', pkg))).toBe(realpathSync(join(dir, 'packages', pkg)));
  }, 300_000);
});
