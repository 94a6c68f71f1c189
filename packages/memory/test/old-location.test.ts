/**
 * A location written by the 0.1 release (unsharded `results/<function>/<body>/<hash>.larder`,
 * fixture written by 0.1's Memory under vitest with the functions below) keeps working on the entry store:
 * its entries hit, list, and are removed; new entries go to the sharded layout beside them.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testMemory } from './helpers.js';

const fixture = new URL('./fixtures/location-0.1', import.meta.url);

// The functions that wrote the fixture, at module level as there: a function's text is part of its identity.
function square(x: number) { return { x, squared: new Float64Array([x * x]) }; }
function label(name: string) { return `run ${name}`; }
const made: string[] = [];
afterEach(() => made.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function copyOfFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'larder-location-0.1-'));
  made.push(dir);
  cpSync(fixture, join(dir, 'cache'), { recursive: true });
  return join(dir, 'cache');
}

const files = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();

describe('a location written by 0.1', () => {
  it('old location: its entries hit (nothing recomputed), list with their records, and new entries are sharded beside them', async () => {
    const location = copyOfFixture();
    const { memory, warnings } = testMemory({}, location);
    const cachedSquare = memory.cache(square, { name: 'square' });
    const cachedLabel = memory.cache(label, { name: 'label' });
    expect(await cachedSquare.isCached(3)).toBe(true);
    const two = await cachedSquare.callAndShelve(2);
    expect({ id: two.info.id, cached: two.info.cached }).toEqual({ id: 'square/b8789305589956f0/7ec410d45deeef7d', cached: true });
    expect(await two.get()).toEqual({ x: 2, squared: new Float64Array([4]) });
    expect((await cachedLabel.callAndShelve('a')).info.cached).toBe(true);
    expect((await memory.list()).map((e) => e.id).sort()).toEqual([
      'label/16e8854083f83432/02885799be464fa2',
      'square/b8789305589956f0/2e41fe5f8d96bdf0',
      'square/b8789305589956f0/7ec410d45deeef7d',
      'square/b8789305589956f0/e546e4e573e96576',
    ]);
    const stats = await memory.stats();
    expect(stats.entries).toBe(4);
    expect(stats.hits).toBe(2);
    // A new entry goes to the sharded layout; the old ones stay where they are.
    await cachedSquare(4);
    const layout = files(join(location, 'results'));
    expect(layout.filter((f) => f.includes('/@'))).toHaveLength(1);
    expect(layout).toContain(join('square', 'b8789305589956f0', '7ec410d45deeef7d.larder'));
    expect((await memory.list()).length).toBe(5);
    expect(warnings).toEqual([]);
  });

  it('old location: clearFunction, reduceSize and clear remove old-layout and sharded entries alike', async () => {
    const location = copyOfFixture();
    const { memory } = testMemory({}, location);
    const cachedSquare = memory.cache(square, { name: 'square' });
    await cachedSquare(5); // a sharded entry beside three old ones
    expect(await memory.clearFunction('square')).toBe(4);
    expect((await memory.list()).map((e) => e.functionName)).toEqual(['label']);
    expect(await memory.reduceSize({ itemsLimit: 0 })).toMatchObject({ removed: 1 });
    await cachedSquare(6);
    await memory.clear();
    expect(files(join(location))).toEqual(['CACHEDIR.TAG', 'index.sqlite', 'larder-cache.json'].concat(files(location).filter((f) => f.startsWith('index.sqlite-'))).sort());
  });

  it('old location: an unmarked location holding sharded entries beside 0.1 ones is still adopted as larder\'s', async () => {
    const location = copyOfFixture();
    const writer = testMemory({}, location).memory;
    await writer.cache(square, { name: 'square' })(7);
    await writer.close();
    rmSync(join(location, 'larder-cache.json'));
    rmSync(join(location, 'CACHEDIR.TAG'));
    const { memory, warnings } = testMemory({}, location);
    expect(await memory.clearFunction('square')).toBe(4);
    expect(warnings).toEqual([]);
  });
});
