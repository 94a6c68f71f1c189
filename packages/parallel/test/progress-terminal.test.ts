/**
 * `progress: true` draws a bar on a terminal and prints nothing otherwise.
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

  it('progress: true prints nothing when stderr is not a terminal (logs stay clean)', () => {
    const run = spawnSync(node[0]!, node.slice(1), { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('results: 10\n');
  });
});
