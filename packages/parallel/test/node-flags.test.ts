/**
 * A parent started with Node flags that worker threads refuse (per-process
 * and V8 options) still gets a working pool, and its workers run under the
 * same process-wide V8 settings. Each case is a real `node` child process.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { rejectedFlags, withoutRejectedFlags, workerExecArgv, workerTypeScript } from '../src/worker-flags.js';

const main = fileURLToPath(new URL('./fixtures/flags-main.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
/** A child starts tsx and two workers: seconds on a quiet machine, far more on a loaded one. */
const CHILD_TIMEOUT_MS = 90_000;

interface Report {
  parent: { heapLimitMb: number; gc: string };
  workers?: { threadId: number; heapLimitMb: number; gc: string }[];
  error?: { code?: string; message: string };
}

async function runWith(flags: string[], env: NodeJS.ProcessEnv = {}): Promise<Report> {
  const { stdout } = await promisify(execFile)(process.execPath, [...flags, '--conditions=larder-source', '--import', 'tsx', main], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    timeout: CHILD_TIMEOUT_MS - 5_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Report;
}

function expectWorkingPool(report: Report): NonNullable<Report['workers']> {
  expect(report.error).toBeUndefined();
  expect(report.workers).toHaveLength(4);
  for (const worker of report.workers!) expect(worker.threadId).toBeGreaterThan(0);
  return report.workers!;
}

describe('a parent started with Node flags that workers refuse', () => {
  // --max-old-space-size and --expose-gc alone are the two tests after this one.
  it.each([
    ['--stack-size=2000'],
    ['--title=larder-flags-test'],
    ['--max-semi-space-size=32'],
    ['--title', 'larder-flags-test'],
    ['--expose_gc', '--title', 'larder-flags-test', '--max-old-space-size=2500', '--no-warnings'],
  ])('node %s … still runs a pool', async (...flags) => {
    expectWorkingPool(await runWith(flags));
  }, CHILD_TIMEOUT_MS);

  it('workers get the heap limit of a parent started with --max-old-space-size', async () => {
    const report = await runWith(['--max-old-space-size=6000']);
    const workers = expectWorkingPool(report);
    expect(report.parent.heapLimitMb).toBeGreaterThanOrEqual(6000);
    for (const worker of workers) expect(worker.heapLimitMb).toBe(report.parent.heapLimitMb);
  }, CHILD_TIMEOUT_MS);

  it('workers have gc() when the parent was started with --expose-gc', async () => {
    const report = await runWith(['--expose-gc']);
    expect(report.parent.gc).toBe('function');
    for (const worker of expectWorkingPool(report)) expect(worker.gc).toBe('function');
  }, CHILD_TIMEOUT_MS);

  it('NODE_OPTIONS with a raised heap limit and other process-wide flags still runs a pool', async () => {
    const report = await runWith([], { NODE_OPTIONS: '--max-old-space-size=5000 --max-semi-space-size=32 --title=larder-flags-test' });
    for (const worker of expectWorkingPool(report)) expect(worker.heapLimitMb).toBe(report.parent.heapLimitMb);
  }, CHILD_TIMEOUT_MS);
});

describe('the flags workers start with', () => {
  it('drop tsx preloads and built-in conditions, keep custom conditions and other flags', () => {
    const tsxLoader = 'file:///repo/node_modules/tsx/dist/loader.mjs';
    expect(
      workerExecArgv(['--conditions', 'import', '--conditions=larder-source', '-C', 'require', '--require', '/repo/node_modules/tsx/dist/preflight.cjs', '--import', tsxLoader, '--import=tsx', '--enable-source-maps']),
    ).toEqual(['--conditions=larder-source', '--enable-source-maps']);
  });

  it('drop exactly what Node reports, with the value of a flag written without =', () => {
    const error = Object.assign(new Error('Initiated Worker with invalid execArgv flags: --title, --expose_gc'), { code: 'ERR_WORKER_INVALID_EXEC_ARGV' });
    expect(rejectedFlags(error)).toEqual(['--title', '--expose_gc']);
    expect(withoutRejectedFlags(['--title', 'x', '--expose_gc', '--no-warnings', '--title=y'], rejectedFlags(error))).toEqual(['--no-warnings']);
    expect(rejectedFlags(new Error('other'))).toEqual([]);
  });

  it('TypeScript loads in workers with the loader the parent uses', () => {
    expect(workerTypeScript(['--import', 'tsx'], '/app/main.ts')).toBe('tsx');
    expect(workerTypeScript([], '/app/main.js')).toBe('tsx');
    const strips = Boolean((process.features as { typescript?: unknown }).typescript);
    expect(workerTypeScript([], '/app/main.ts')).toBe(strips ? 'native' : 'tsx');
  });
});
