/**
 * Location strings that do not name the folder meant: each was taken as a
 * folder of that literal name in the working directory and filled there.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Memory, MemoryError } from '@larder/memory';
import { tempDir } from './helpers.js';

describe('location strings', () => {
  it.each([
    ['~', /'~' is not expanded/],
    ['~/.cache/larder', /'~' is not expanded/],
    ['gs://bucket/cache', /a URL of another kind would be taken as a folder/],
    ['redis://127.0.0.1:6379', /a URL of another kind would be taken as a folder/],
    ['   ', /not blank and without NUL/],
    ['cache\0x', /not blank and without NUL/],
    // Regression: a scheme without its '//' made a folder named 's3:' or 'file:relative'.
    ['s3:/bucket/cache', /it starts like a URL but is not one/],
    ['file:cache', /it starts like a URL but is not one.*'\.\/file:cache'/],
    ['https:cache', /it starts like a URL but is not one/],
  ])('new Memory(%j) is LARDER_OPTION, and nothing is made in the working directory', (location, message) => {
    const before = readdirSync(process.cwd());
    let error: unknown;
    try {
      new Memory(location);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MemoryError);
    expect((error as MemoryError).code).toBe('LARDER_OPTION');
    expect((error as Error).message).toMatch(/^\[larder\/memory\] location must be a folder path, a file:\/\/ URL or 's3:\/\/bucket\/prefix'/);
    expect((error as Error).message).toMatch(message);
    expect(readdirSync(process.cwd())).toEqual(before);
  });

  it('a file:// URL is its folder, as openStore takes it (not a folder named "file:")', async () => {
    const dir = tempDir();
    await using memory = new Memory(pathToFileURL(join(dir, 'cache')).href);
    expect(memory.location).toBe(join(dir, 'cache'));
    const twice = memory.cache((x: number) => 2 * x, { name: 'twice' });
    expect(await twice(2)).toBe(4);
    expect(await twice.isCached(2)).toBe(true);
    expect(existsSync(join(dir, 'cache', 'results'))).toBe(true);
    expect(existsSync(join(process.cwd(), 'file:'))).toBe(false);
  });
});
