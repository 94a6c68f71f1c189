import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { openLocationIndex } from '../src/index-open.js';
import { entryFile, tempDir, testMemory } from './helpers.js';

describe('reconcile', () => {
  for (const backend of ['sqlite', 'keyv Map'] as const) {
    it(`reconcile (${backend}): files without records get one from their header, records without files go`, async () => {
      const location = tempDir();
      const index = backend === 'sqlite' ? undefined : new Keyv({ namespace: 'larder' });
      const { memory } = testMemory({ index }, location);
      const f = memory.cache(async function f(x: number) { await new Promise((r) => setTimeout(r, 5)); return new Float64Array(10).fill(x); }, { name: 'f' });
      await f(1), await f(2), await f(3);
      const ids = (await memory.list()).map((e) => e.id).sort();
      expect(ids).toHaveLength(3);
      // Damage the agreement from outside: a file disappears behind the index's back, a record is lost.
      unlinkSync(entryFile(location, ids[0]!));
      const store = index ? undefined : await openLocationIndex(location, () => undefined);
      if (store) await store.deleteEntries([ids[1]!]), await store.close();
      else await index!.delete(`e/${ids[1]!}`);

      expect(await memory.reconcile()).toEqual({ added: 1, removed: 1 });
      expect(await memory.reconcile()).toEqual({ added: 0, removed: 0 });
      const entries = await memory.list();
      expect(entries.map((e) => e.id).sort()).toEqual(ids.slice(1));
      const rebuilt = entries.find((e) => e.id === ids[1])!;
      expect(rebuilt.functionName).toBe('f');
      expect(rebuilt.computeMs).toBeGreaterThan(0); // from the file's envelope, not a guess
    });
  }

  it('reconcile: a pass-through Memory has nothing to reconcile', async () => {
    expect(await new Memory(null).reconcile()).toEqual({ added: 0, removed: 0 });
  });
});
