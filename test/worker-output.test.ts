/**
 * What tasks print in worker threads (a cached function's verbose lines,
 * console.log) is printed by the caller's thread before the call resolves,
 * and above the progress bar rather than inside its line. On a terminal
 * (util-linux `script` gives one) and through pipes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, repoRoot, runScript } from './fixtures/run-child.js';

const hasScript = spawnSync('script', ['--version']).status === 0;
const folders: string[] = [];
const freshCache = (): string => {
  const folder = mkdtempSync(join(tmpdir(), 'larder-output-'));
  folders.push(folder);
  return folder;
};
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** Index of the first line matching, -1 when none. */
const lineIndex = (lines: string[], pattern: RegExp): number => lines.findIndex((line) => pattern.test(line));

describe('output of tasks in worker threads', () => {
  it('every line tasks print in workers comes before the map() that ran them resolves (pipes)', async () => {
    const { stdout, stderr } = await runScript(fixture('verbose-main.ts'), [], { env: { LARDER_TEST_CACHE: freshCache() } });
    const out = stdout.split('\n');
    const shoutResolved = lineIndex(out, /^shout resolved: 8$/);
    expect(shoutResolved).toBeGreaterThan(0);
    for (let x = 1; x <= 8; x++) {
      const line = lineIndex(out, new RegExp(`^task ${x} says \\.{20000} done$`));
      expect(line, `task ${x}'s line`).toBeGreaterThanOrEqual(0);
      expect(line, `task ${x}'s line before "shout resolved"`).toBeLessThan(shoutResolved);
    }
    // memory's verbose lines (stderr) for all six cached calls, each whole on its own line.
    for (let x = 1; x <= 6; x++) expect(stderr).toMatch(new RegExp(`^slowCube\\(${x}\\)$`, 'm'));
  }, 120_000);

  it.skipIf(!hasScript)('with progress: true on a terminal, verbose lines of cached functions in two workers print above the bar, never inside its line', () => {
    const cache = freshCache();
    const command = [process.execPath, '--conditions=larder-source', '--import', 'tsx', fixture('verbose-main.ts')].map((part) => `'${part}'`).join(' ');
    const run = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000, env: { ...process.env, LARDER_TEST_CACHE: cache } });
    expect(run.status, run.stdout).toBe(0);
    // The terminal's screen, line by line: a carriage return redraws within a line.
    const screen = run.stdout.split(/\r?\n/).map((line) => line.split('\r').at(-1)!.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''));
    const verbose = screen.filter((line) => line.includes('[Memory]') || /slowCube/.test(line));
    expect(verbose.length).toBeGreaterThanOrEqual(6);
    for (const line of verbose) expect(line, 'a verbose line drawn into the bar').not.toContain('[larder/parallel]');
    const resolved = lineIndex(screen, /cubes resolved: 1,8,27,64,125,216/);
    expect(resolved).toBeGreaterThan(0);
    const lastVerbose = screen.reduce((last, line, index) => (/slowCube/.test(line) ? index : last), -1);
    expect(lastVerbose).toBeLessThan(resolved);
    expect(screen.slice(0, resolved).some((line) => /6\/6 tasks/.test(line))).toBe(true);
  }, 120_000);
});
