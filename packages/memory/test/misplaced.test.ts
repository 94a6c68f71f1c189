import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { testMemory } from './helpers.js';

describe('misplaced files', () => {
  it('robustness: a valid entry file copied onto another entry\'s path is a miss with a warning, never the other call\'s value', async () => {
    const { memory, warnings, location } = testMemory();
    let runs = 0;
    const f = memory.cache(function f(x: number) { runs++; return { x }; }, { name: 'f' });
    const three = (await f.call(3)).info.id;
    const four = (await f.call(4)).info.id;
    copyFileSync(join(location, 'results', `${four}.larder`), join(location, 'results', `${three}.larder`));
    expect(await f(3)).toEqual({ x: 3 });
    expect(runs).toBe(3);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_ENTRY_CORRUPT']);
    expect(warnings[0]!.message).toContain(`holds the entry ${four}, not ${three}`);
    expect(await f(3)).toEqual({ x: 3 }); // overwritten with the right entry: a hit now
    expect(runs).toBe(3);
  });

  it('lease: a lease file without a readable holder (debris) stops blocking after 2 s, not after leaseMs', async () => {
    const { memory, location } = testMemory({ leaseMs: 60_000 });
    // Slow enough (≥ LEASE_MIN_COMPUTE_MS) that its misses take the lease, which is what meets the debris.
    const f = memory.cache(async function g(x: number) { await sleep(10); return x + 1; }, { name: 'g' });
    const id = (await f.call(1)).info.id;
    const entry = join(location, 'results', `${id}.larder`);
    await f.clear();
    mkdirSync(join(entry, '..'), { recursive: true });
    writeFileSync(`${entry}.lease`, 'not json at all');
    const started = Date.now();
    expect(await f(1)).toBe(2);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(1_900);
    expect(waited).toBeLessThan(6_000);
  });
});
