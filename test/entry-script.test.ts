/**
 * A task module that is the entry script (the "Trust" issue): a one-file
 * script declaring its tasks and mapping them on two workers used to make
 * every worker re-run the whole script, which started more workers, without
 * end. It must exit at once with LARDER_ENTRY_SCRIPT, evaluated once.
 * Each script runs in a real child process with a hard timeout.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, repoRoot, tempFolders } from './fixtures/run-child.js';

const folders = tempFolders('larder-entry-');
afterAll(() => folders.cleanup());

const HARD_TIMEOUT_MS = 45_000;

/** Runs a script as a user would; kills it (and reports that) at the hard timeout. */
function runUntilExit(args: string[], evalLog: string): Promise<{ stdout: string; stderr: string; code: number | null; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, EVAL_LOG: evalLog }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, HARD_TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, killed });
    });
  });
}

const runs: Array<[string, string[], string]> = [
  ['under tsx (node --import tsx script.ts)', ['--conditions=larder-source', '--import', 'tsx', fixture('entry-tasks-main.ts')], 'double'],
  ['as a plain .mjs script', ['--conditions=larder-source', '--import', 'tsx', fixture('entry-tasks-main.mjs')], 'double'],
  ['through the tsx CLI (tsx script.ts)', [join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), '--conditions=larder-source', fixture('entry-tasks-main.ts')], 'double'],
  ['with only its workerInit declared in the script', ['--conditions=larder-source', '--import', 'tsx', fixture('entry-init-main.ts')], 'setup'],
];

describe('a task module that is the entry script', () => {
  it.each(runs)('%s: the script exits at once with LARDER_ENTRY_SCRIPT, evaluated once, no worker re-runs it', async (_name, args, taskName) => {
    const evalLog = join(folders.make(), 'evaluations.log');
    writeFileSync(evalLog, '');
    const run = await runUntilExit(args, evalLog);
    expect(run.killed, `still running after ${HARD_TIMEOUT_MS} ms; evaluations: ${readFileSync(evalLog, 'utf8')}`).toBe(false);
    expect(run.code, run.stderr).toBe(0);
    const outcome = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { code?: string; message?: string };
    expect(outcome.code).toBe('LARDER_ENTRY_SCRIPT');
    expect(outcome.message).toMatch(new RegExp(`^\\[larder/parallel\\] task ${taskName} is declared in the entry script .*entry-(tasks|init)-main\\.m?[jt]s .*Move the tasks into their own module`));
    expect(readFileSync(evalLog, 'utf8').trim().split('\n')).toEqual(['evaluated in thread 0']);
  }, HARD_TIMEOUT_MS + 10_000);

  it('a worker importing a task module that imports the entry script stops the script before its side effects', async () => {
    const evalLog = join(folders.make(), 'evaluations.log');
    writeFileSync(evalLog, '');
    const run = await runUntilExit(['--conditions=larder-source', '--import', 'tsx', fixture('entry-imported-main.ts')], evalLog);
    expect(run.killed, `still running after ${HARD_TIMEOUT_MS} ms; evaluations: ${readFileSync(evalLog, 'utf8')}`).toBe(false);
    expect(run.code, run.stderr).toBe(0);
    const outcome = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { code?: string; message?: string };
    expect(outcome.code).toBe('LARDER_TASK_IMPORT');
    expect(outcome.message).toContain('is declared in the entry script');
    expect(readFileSync(evalLog, 'utf8').trim().split('\n')).toEqual(['evaluated in thread 0']);
  }, HARD_TIMEOUT_MS + 10_000);

  it('regression: under node -e, the code\'s first argument is not taken for the entry script (a task module passed there runs)', async () => {
    const taskModule = join(repoRoot, 'packages/parallel/test/fixtures/plain-tasks.mjs');
    const code = [
      "import { pathToFileURL } from 'node:url';",
      "import { Parallel } from '@larder/parallel';",
      'const { double } = await import(pathToFileURL(process.argv[1]).href);',
      'const pool = new Parallel({ nJobs: 2 });',
      'console.log(JSON.stringify(await pool.map(double, [1, 2, 3])));',
      'await pool.close();',
    ].join('\n');
    const run = await runUntilExit(['--conditions=larder-source', '--import', 'tsx', '--input-type=module', '-e', code, taskModule], join(folders.make(), 'unused.log'));
    expect(run.killed).toBe(false);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe('[2,4,6]');
  }, HARD_TIMEOUT_MS + 10_000);
});
