/**
 * `progress: true` draws a bar on a terminal and prints plain periodic lines otherwise.
 * The terminal is real: util-linux `script` runs the program on a pseudo-terminal.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const program = fileURLToPath(new URL('./fixtures/progress-main.ts', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));
const node = [process.execPath, '--conditions=larder-source', '--import', 'tsx', program];
const hasScript = spawnSync('script', ['--version']).status === 0;

describe('progress on a terminal', () => {
  it.skipIf(!hasScript)('progress: true draws a bar ending at 10/10 tasks when stderr is a terminal (util-linux script gives one)', () => {
    const command = node.map((part) => `'${part}'`).join(' ');
    const run = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('[larder/parallel] ');
    expect(run.stdout).toMatch(/10\/10 tasks/);
    expect(run.stdout).toContain('results: 10');
  });

  it('progress: true prints plain joblib-shaped lines when stderr is not a terminal (CI, | tee), ending with the finished line', () => {
    const run = spawnSync(node[0]!, node.slice(1), { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('results: 10\n');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/^\[larder\/parallel\] Done 10 out of 10 \| elapsed: \d+\.\d(s|min) finished$/);
    for (const line of lines) expect(line).toMatch(/^\[larder\/parallel\] Done \d+ out of 10 \| elapsed: \d+\.\d(s|min) (remaining: \d+\.\d(s|min)|finished)$/);
    expect(run.stderr).not.toContain('\x1b'); // no terminal control codes in a log
  });
});
