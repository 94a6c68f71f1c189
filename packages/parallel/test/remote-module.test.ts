/**
 * Where larder-worker imports a job's task module from. A job is data: anyone
 * who can write the queue's Redis can add one to the queue, so its module
 * address must never make a worker import code from outside `--root` (and
 * its node_modules): a `data:` URL is arbitrary code, `node:fs` exports
 * `rmSync`, and a file URL can name any module on the machine.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ParallelError } from '../src/errors.js';
import { resolveModule } from '../src/remote-protocol.js';

const scratch = mkdtempSync(join(tmpdir(), 'larder-remote-module-'));
const root = join(scratch, 'root');
const outside = join(scratch, 'outside');
mkdirSync(join(root, 'lib'), { recursive: true });
mkdirSync(outside, { recursive: true });
writeFileSync(join(root, 'lib', 'tasks.mjs'), 'export const a = 1;\n');
writeFileSync(join(outside, 'evil.mjs'), 'export const rmSync = 1;\n');
symlinkSync(join(outside, 'evil.mjs'), join(root, 'lib', 'link.mjs'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function refused(url: string): ParallelError {
  try {
    resolveModule({ url }, root);
  } catch (error) {
    return error as ParallelError;
  }
  throw new Error(`resolveModule accepted ${url}`);
}

describe('resolveModule: only modules under --root', () => {
  it('a file under the root resolves by its relative path and by its own URL', () => {
    const url = pathToFileURL(join(root, 'lib', 'tasks.mjs')).href;
    expect(resolveModule({ url: 'file:///elsewhere/lib/tasks.mjs', path: 'lib/tasks.mjs' }, root)).toBe(url);
    expect(resolveModule({ url }, root)).toBe(url);
  });

  it.each([
    ['a data: URL (any code)', 'data:text/javascript,export const x = 1'],
    ['a node: builtin (node:fs exports rmSync)', 'node:fs'],
    ['an https: URL', 'https://example.com/tasks.mjs'],
    ['a file outside the root', pathToFileURL(join(outside, 'evil.mjs')).href],
    ['a file URL with .. leaving the root', `${pathToFileURL(root).href}/../outside/evil.mjs`],
    ['a symlink under the root to a file outside', pathToFileURL(join(root, 'lib', 'link.mjs')).href],
  ])('%s is LARDER_TASK_IMPORT, never imported', (_what, url) => {
    const error = refused(url);
    expect(error).toBeInstanceOf(ParallelError);
    expect(error.code).toBe('LARDER_TASK_IMPORT');
  });

  it('a relative path with .. is not looked for outside the root', () => {
    const error = (() => {
      try {
        return resolveModule({ url: 'node:fs', path: '../outside/evil.mjs' }, root);
      } catch (e) {
        return e as ParallelError;
      }
    })() as ParallelError;
    expect(error.code).toBe('LARDER_TASK_IMPORT');
  });
});
