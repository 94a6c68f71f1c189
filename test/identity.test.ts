/**
 * A cached function's identity is the same in a parent and its workers, and in every process
 * running the same build: a TypeScript task module's function computed in a worker hits in the
 * parent, computed in the parent hits in the workers, and a second run computes nothing.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { fixture, runScript, tempFolders } from './fixtures/run-child.js';

const folders = tempFolders('larder-identity-');
afterAll(() => folders.cleanup());

it('identity: a TypeScript task module computes in a worker and hits in the parent (and back), and a rerun of the script computes nothing', async () => {
  const root = folders.make();
  const env = { LARDER_TEST_CACHE: join(root, 'cache'), LARDER_TEST_COUNTER: join(root, 'counter') };
  mkdirSync(env.LARDER_TEST_COUNTER);
  const sums = [11, 12, 11, 12, 13, 13, 13].map((x) => Array.from({ length: 1000 }, (_, i) => x * x + i).reduce((a, b) => a + b, 0));

  const first = JSON.parse((await runScript(fixture('identity-main.ts'), [], { env, timeoutMs: 120_000 })).stdout.trim().split('\n').at(-1)!);
  expect(first).toEqual({ workers: 2, parentHits: 0, parentMiss: 1, workersAfterParent: 0, same: sums });

  // Another process of the same build (the notebook rerun, another machine on a shared folder): all hits.
  const second = JSON.parse((await runScript(fixture('identity-main.ts'), [], { env, timeoutMs: 120_000 })).stdout.trim().split('\n').at(-1)!);
  expect(second).toEqual({ workers: 0, parentHits: 0, parentMiss: 0, workersAfterParent: 0, same: sums });
}, 300_000);
