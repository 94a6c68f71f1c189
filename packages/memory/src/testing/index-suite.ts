/**
 * `@larder/memory/testing`: the conformance suite of the {@link IndexStore}
 * contract, as a function of a factory (like keyv's test-suite), so an index
 * store of your own (Redis, Postgres, ...) runs the same tests larder's run.
 * It takes your test framework's `describe`, `it` and `expect` (vitest or
 * jest shaped), so no test framework is a dependency of @larder/memory.
 *
 * @example
 * ```ts
 * import { describe, expect, it } from 'vitest';
 * import { indexStoreConformance } from '@larder/memory/testing';
 * import { MyIndexStore } from './my-index-store.js';
 *
 * indexStoreConformance(() => MyIndexStore.open(), { describe, it, expect, name: 'my store' });
 * ```
 */
import type { IndexEntry, IndexStore } from '../index-store.js';
import type { ExpectingRunner } from './runner.js';

export type { BodyAggregate, BodyRecord, FunctionCounters, IndexBatch, IndexCapabilities, IndexEntry, IndexStore, PageCursor, PageOptions } from '../index-store.js';

/** Options of {@link indexStoreConformance}: the test runner's `describe`, `it` and `expect`, and the suite's settings. */
export interface IndexConformanceOptions extends ExpectingRunner {
  /**
   * Names the suite in the report.
   * @default none (the suite is titled by what it tests)
   */
  name?: string | undefined;
  /**
   * A second handle on the same records as `store` (another connection or client), for the
   * concurrent-increments test. Omit it when a store cannot be opened twice.
   * @default undefined (that test is left out)
   */
  reopen?: ((store: IndexStore) => Promise<IndexStore>) | undefined;
}

const entry = (key: string, lastAccessMs: number, bytes = 10, extra: Partial<IndexEntry> = {}): IndexEntry => ({
  key, name: key.split('/')[0]!, bytes, createdMs: lastAccessMs - 1, lastAccessMs, computeMs: 5, hits: 0, ...extra,
});

const hex = (n: number, width = 16) => n.toString(16).padStart(width, '0');
const B1 = 'a'.repeat(16);
const B2 = 'b'.repeat(16);

/**
 * Defines the conformance tests of an {@link IndexStore}. `factory` returns a new, empty store
 * each call (or one it clears first). A store whose `capabilities` say it lacks atomic
 * increments or ordered paging still runs every test: those are about results, not speed,
 * except the concurrent-increments test, which is skipped without atomic increments.
 */
export function indexStoreConformance(factory: () => IndexStore | Promise<IndexStore>, options: IndexConformanceOptions): void {
  const { describe, it, expect } = options ?? {};
  if (typeof factory !== 'function') throw new TypeError('[larder/memory] indexStoreConformance(factory, options): factory must be a function that makes a fresh, empty index store');
  if (typeof describe !== 'function' || typeof it !== 'function' || typeof expect !== 'function') throw new TypeError("[larder/memory] indexStoreConformance(factory, options): pass your test runner's describe, it and expect");
  const withStore = (body: (store: IndexStore) => Promise<void>) => async () => {
    const store = await factory();
    try {
      await body(store);
    } finally {
      await store.close();
    }
  };

  describe(`IndexStore conformance${options.name === undefined ? '' : `: ${options.name}`}`, () => {
    it('puts, reads back in order, replaces and deletes entry records', withStore(async (store) => {
      await store.apply({ put: [entry(`f/${B1}/${hex(1)}`, 100), entry(`f/${B1}/${hex(2)}`, 200, 20, { hits: 3 })] });
      const [a, missing, b] = await store.getEntries([`f/${B1}/${hex(1)}`, `f/${B1}/${hex(9)}`, `f/${B1}/${hex(2)}`]);
      expect(missing).toBeUndefined();
      expect(a).toEqual(entry(`f/${B1}/${hex(1)}`, 100));
      expect(b).toEqual(entry(`f/${B1}/${hex(2)}`, 200, 20, { hits: 3 }));
      await store.apply({ put: [entry(`f/${B1}/${hex(1)}`, 300, 30)] });
      expect((await store.getEntries([`f/${B1}/${hex(1)}`]))[0]).toEqual(entry(`f/${B1}/${hex(1)}`, 300, 30));
      await store.deleteEntries([`f/${B1}/${hex(1)}`, `f/${B1}/${hex(7)}`]);
      expect(await store.getEntries([`f/${B1}/${hex(1)}`, `f/${B1}/${hex(2)}`])).toEqual([undefined, b]);
    }));

    it('adds hits (last access as max) and function counters; a hit on an unknown entry creates its record', withStore(async (store) => {
      const key = `f/${B1}/${hex(1)}`;
      await store.apply({ put: [entry(key, 500)] });
      await store.apply({ hits: [{ key, name: 'f', hits: 2, lastAccessMs: 400, createdMs: 0, computeMs: 0, bytes: -1 }] });
      await store.apply({ hits: [{ key, name: 'f', hits: 1, lastAccessMs: 900, createdMs: 0, computeMs: 0, bytes: -1 }] });
      expect((await store.getEntries([key]))[0]).toMatchObject({ hits: 3, lastAccessMs: 900, bytes: 10, createdMs: 499 });
      const other = `f/${B1}/${hex(2)}`;
      await store.apply({ hits: [{ key: other, name: 'f', hits: 1, lastAccessMs: 50, createdMs: 40, computeMs: 7, bytes: -1 }] });
      expect((await store.getEntries([other]))[0]).toEqual({ key: other, name: 'f', hits: 1, lastAccessMs: 50, createdMs: 40, computeMs: 7, bytes: -1 });
      await store.apply({ functions: [{ folder: 'f', name: 'f', hits: 2, misses: 1, computeTimeSavedMs: 10 }] });
      await store.apply({ functions: [{ folder: 'f', name: 'f', hits: 1, misses: 4, computeTimeSavedMs: 5 }, { folder: 'g', name: 'g', hits: 0, misses: 1, computeTimeSavedMs: 0 }] });
      expect(await store.functions()).toEqual([
        { folder: 'f', name: 'f', hits: 3, misses: 5, computeTimeSavedMs: 15 },
        { folder: 'g', name: 'g', hits: 0, misses: 1, computeTimeSavedMs: 0 },
      ]);
    }));

    it('keeps body records: first use is the earliest, last use the latest', withStore(async (store) => {
      await store.apply({ bodies: [{ folder: 'f', body: B1, name: 'f', usedMs: 100 }, { folder: 'f', body: B2, name: 'f', usedMs: 300 }] });
      await store.apply({ bodies: [{ folder: 'f', body: B1, name: 'f', usedMs: 50 }, { folder: 'f', body: B1, name: 'f', usedMs: 700 }, { folder: 'g', body: B1, name: 'g', usedMs: 1 }] });
      expect(await store.bodies('f')).toEqual([
        { folder: 'f', body: B1, name: 'f', firstUsedMs: 50, lastUsedMs: 700 },
        { folder: 'f', body: B2, name: 'f', firstUsedMs: 300, lastUsedMs: 300 },
      ]);
      expect((await store.bodies()).map((b) => `${b.folder}/${b.body}`)).toEqual([`f/${B1}`, `f/${B2}`, `g/${B1}`]);
    }));

    it('pages entries least recently used first and by key, with a prefix, never repeating one', withStore(async (store) => {
      const put: IndexEntry[] = [];
      for (let i = 0; i < 250; i++) put.push(entry(`${i % 2 ? 'f' : 'g'}/${i % 3 ? B1 : B2}/${hex(i)}`, 1000 + ((i * 7919) % 250), 1));
      put.push(entry(`f/${B1}/${hex(999)}`, 1000)); // a tie on last access: broken by key
      await store.apply({ put });
      const collect = async (order: 'key' | 'lastAccess', prefix?: string) => {
        const out: IndexEntry[] = [];
        let after;
        for (;;) {
          const page = await store.page({ order, prefix, after, limit: 37 });
          expect(page.length).toBeLessThanOrEqual(37);
          out.push(...page);
          if (page.length < 37) return out;
          after = { key: page[page.length - 1]!.key, lastAccessMs: page[page.length - 1]!.lastAccessMs };
        }
      };
      const byAccess = await collect('lastAccess');
      const expected = [...put].sort((a, b) => a.lastAccessMs - b.lastAccessMs || (a.key < b.key ? -1 : 1));
      expect(byAccess.map((e) => e.key)).toEqual(expected.map((e) => e.key));
      const byKey = await collect('key', `f/${B1}/`);
      expect(byKey.map((e) => e.key)).toEqual(put.filter((e) => e.key.startsWith(`f/${B1}/`)).map((e) => e.key).sort());
      // Deleting each page before asking for the next (how reduceSize pages) still reaches every entry once.
      let seen = 0;
      for (;;) {
        const page = await store.page({ order: 'lastAccess', limit: 100 });
        seen += page.length;
        await store.deleteEntries(page.map((e) => e.key));
        if (page.length < 100) break;
      }
      expect(seen).toBe(put.length);
      expect(await store.page({ order: 'key', limit: 10 })).toEqual([]);
    }));

    it("pages one function's and one body's entries least recently used first across its bodies, ties broken by key", withStore(async (store) => {
      const B3 = 'c'.repeat(16);
      const put: IndexEntry[] = [];
      // Three bodies of f whose times interleave, with many ties (5 distinct times), a neighbour folder
      // whose keys sort right after f's ('f0/' > 'f/'), and another function.
      for (let i = 0; i < 120; i++) put.push(entry(`f/${[B1, B2, B3][i % 3]}/${hex((i * 7919) % 1000)}`, 1000 + ((i * 31) % 5), 1));
      for (let i = 0; i < 30; i++) put.push(entry(`f0/${B1}/${hex(i)}`, 1000 + (i % 5), 1), entry(`g/${B1}/${hex(i)}`, 999 + (i % 7), 1));
      put.push(entry(`f/${B3}/${hex(5000)}`, 1)); // one body holding the oldest and the newest
      put.push(entry(`f/${B3}/${hex(5001)}`, 9999));
      await store.apply({ put });
      const collect = async (prefix: string, limit: number) => {
        const out: IndexEntry[] = [];
        let after;
        for (;;) {
          const page = await store.page({ order: 'lastAccess', prefix, after, limit });
          expect(page.length).toBeLessThanOrEqual(limit);
          out.push(...page);
          if (page.length < limit) return out.map((e) => e.key);
          after = { key: page[page.length - 1]!.key, lastAccessMs: page[page.length - 1]!.lastAccessMs };
        }
      };
      const expected = (prefix: string) => put.filter((e) => e.key.startsWith(prefix)).sort((a, b) => a.lastAccessMs - b.lastAccessMs || (a.key < b.key ? -1 : 1)).map((e) => e.key);
      for (const prefix of ['f/', `f/${B2}/`, `f/${B3}/`, `f/${B1}/00000000000000`, 'f']) {
        for (const limit of [1, 4, 37, 500]) expect({ prefix, limit, keys: await collect(prefix, limit) }).toEqual({ prefix, limit, keys: expected(prefix) });
      }
      // Deleting each page before asking for the next (how a pruning caller pages) reaches each of f's entries once.
      const seen: string[] = [];
      for (let after; ;) {
        const page = await store.page({ order: 'lastAccess', prefix: 'f/', after, limit: 16 });
        seen.push(...page.map((e) => e.key));
        await store.deleteEntries(page.map((e) => e.key));
        if (page.length < 16) break;
        after = { key: page[page.length - 1]!.key, lastAccessMs: page[page.length - 1]!.lastAccessMs };
      }
      expect(seen).toEqual(expected('f/'));
      expect((await store.page({ order: 'key', limit: 500 })).map((e) => e.key)).toEqual(put.filter((e) => !e.key.startsWith('f/')).map((e) => e.key).sort());
    }));

    it('aggregates entries and bytes per body (unknown sizes count 0)', withStore(async (store) => {
      await store.apply({
        put: [entry(`f/${B1}/${hex(1)}`, 1, 10), entry(`f/${B1}/${hex(2)}`, 2, 15), entry(`f/${B2}/${hex(1)}`, 3, 7), entry(`g/${B1}/${hex(1)}`, 4, -1)],
        bodies: [{ folder: 'f', body: B1, name: 'f', usedMs: 1 }],
      });
      const sorted = (rows: { folder: string; body: string }[]) => [...rows].sort((a, b) => `${a.folder}/${a.body}`.localeCompare(`${b.folder}/${b.body}`));
      expect(sorted(await store.aggregate())).toEqual([
        { folder: 'f', body: B1, name: 'f', entries: 2, bytes: 25 },
        { folder: 'f', body: B2, name: 'f', entries: 1, bytes: 7 },
        { folder: 'g', body: B1, name: 'g', entries: 1, bytes: 0 },
      ]);
      expect(sorted(await store.aggregate('g'))).toEqual([{ folder: 'g', body: B1, name: 'g', entries: 1, bytes: 0 }]);
    }));

    it('deletes by prefix (entries and body records; counters stay) and clears only its records', withStore(async (store) => {
      await store.apply({
        put: [entry(`f/${B1}/${hex(1)}`, 1), entry(`f/${B2}/${hex(1)}`, 1), entry(`fa/${B1}/${hex(1)}`, 1), entry(`g/${B1}/${hex(1)}`, 1)],
        functions: [{ folder: 'f', name: 'f', hits: 1, misses: 1, computeTimeSavedMs: 1 }],
        bodies: [{ folder: 'f', body: B1, name: 'f', usedMs: 1 }, { folder: 'f', body: B2, name: 'f', usedMs: 2 }, { folder: 'fa', body: B1, name: 'fa', usedMs: 1 }],
      });
      expect(await store.deletePrefix(`f/${B2}/`)).toBe(1);
      expect((await store.bodies('f')).map((b) => b.body)).toEqual([B1]);
      expect(await store.deletePrefix('f/')).toBe(1);
      expect((await store.page({ order: 'key', limit: 10 })).map((e) => e.key)).toEqual([`fa/${B1}/${hex(1)}`, `g/${B1}/${hex(1)}`]);
      expect(await store.bodies('f')).toEqual([]);
      expect(await store.functions()).toHaveLength(1);
      await store.clear();
      expect(await store.page({ order: 'key', limit: 10 })).toEqual([]);
      expect(await store.functions()).toEqual([]);
      expect(await store.bodies()).toEqual([]);
    }));

    it('handles more records than one statement takes', withStore(async (store) => {
      const put = Array.from({ length: 5000 }, (_, i) => entry(`f/${B1}/${hex(i)}`, i));
      await store.apply({ put });
      const got = await store.getEntries(put.map((e) => e.key));
      expect(got.every((e, i) => e?.key === put[i]!.key)).toBe(true);
      expect((await store.aggregate())[0]).toMatchObject({ entries: 5000, bytes: 50_000 });
      await store.deleteEntries(put.slice(0, 4000).map((e) => e.key));
      expect((await store.aggregate())[0]).toMatchObject({ entries: 1000 });
    }), 60_000);

    it('asks for a reconcile only until told it was done', withStore(async (store) => {
      await store.reconciled();
      expect(await store.needsReconcile()).toBe(false);
    }));

    it('adds concurrent increments from two handles without losing any (atomic increments)', async () => {
      const first = await factory();
      try {
        if (!first.capabilities.atomicIncrements || !options.reopen) return; // documented exception of this store
        const second = await options.reopen(first);
        try {
          const key = `f/${B1}/${hex(1)}`;
          const bump = (store: IndexStore, i: number) => store.apply({
            hits: [{ key, name: 'f', hits: 1, lastAccessMs: i, createdMs: 0, computeMs: 0, bytes: 1 }],
            functions: [{ folder: 'f', name: 'f', hits: 1, misses: 0, computeTimeSavedMs: 1 }],
          });
          await Promise.all(Array.from({ length: 100 }, (_, i) => bump(i % 2 ? first : second, i)));
          expect((await first.getEntries([key]))[0]?.hits).toBe(100);
          expect((await second.functions())[0]).toMatchObject({ hits: 100, computeTimeSavedMs: 100 });
        } finally {
          await second.close();
        }
      } finally {
        await first.close();
      }
    }, 60_000);
  });
}
