/**
 * The backend conformance suite (conformance-suite.ts) against the local
 * backends. Threads use real worker threads loading a TypeScript task module
 * through tsx.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Parallel, type BackendName } from '@larder/parallel';
import { backendConformance } from './conformance-suite.js';

const backends: BackendName[] = ['threads', 'async', 'sequential'];

for (const backend of backends) backendConformance({ backend, open: async (_context, options) => new Parallel({ backend, ...options }) });

describe('errors outside the tasks', () => {
  it('regression: a progress callback that throws rejects the call with its error (no unhandled rejection, no hang, rest cancelled)', () => {
    const program = fileURLToPath(new URL('./fixtures/callback-throws-main.ts', import.meta.url));
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const run = spawnSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', program], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(run.stdout, run.stderr).toBe(
      [
        'sequential progress: rejected with the callback error, rest cancelled',
        'sequential next call: [1,4,9]',
        'async progress: rejected with the callback error, rest cancelled',
        'async next call: [1,4,9]',
        'threads progress: rejected with the callback error',
        'threads next call: [1,4,9]',
        'verbose: rejected with the write error',
        '',
      ].join('\n'),
    );
    expect(run.status).toBe(0);
  });
});
