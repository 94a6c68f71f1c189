/**
 * What the server-side index stores (Redis, Postgres) do to a batch before
 * sending it: check its numbers (a Redis script cannot roll back halfway, and
 * a bad number must not reach SQL), and merge records of one key (Postgres
 * refuses to upsert one row twice in a statement; a merged batch means the
 * same as the original: puts replace, hits and counters add, body uses widen).
 */
import type { IndexBatch, IndexEntry } from './index-store.js';

type Hit = NonNullable<IndexBatch['hits']>[number];
type Fn = NonNullable<IndexBatch['functions']>[number];

/** A batch with one record per key, bodies as their first and last use. */
export interface MergedBatch {
  put: IndexEntry[];
  hits: Hit[];
  functions: Fn[];
  bodies: { folder: string; body: string; name: string; firstMs: number; lastMs: number }[];
}

const KEY = /^[^/]+\/[^/]+\/[^/]+$/;

function finite(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`[larder/memory] index batch: ${what} must be a finite number, got ${String(value)}`);
}

function integer(value: unknown, what: string): void {
  if (!Number.isSafeInteger(value)) throw new TypeError(`[larder/memory] index batch: ${what} must be an integer, got ${String(value)}`);
}

function entryKey(key: unknown): void {
  if (typeof key !== 'string' || !KEY.test(key)) throw new TypeError(`[larder/memory] index batch: an entry key must be <folder>/<body>/<arguments hash>, got ${JSON.stringify(key)}`);
}

/** Throws a TypeError for a record a server could store wrongly or half. */
export function checkBatch(batch: IndexBatch): void {
  for (const e of batch.put ?? []) {
    entryKey(e.key);
    integer(e.bytes, 'bytes'), integer(e.hits, 'hits'), finite(e.createdMs, 'createdMs'), finite(e.lastAccessMs, 'lastAccessMs'), finite(e.computeMs, 'computeMs');
  }
  for (const h of batch.hits ?? []) {
    entryKey(h.key);
    integer(h.bytes, 'bytes'), integer(h.hits, 'hits'), finite(h.createdMs, 'createdMs'), finite(h.lastAccessMs, 'lastAccessMs'), finite(h.computeMs, 'computeMs');
  }
  for (const f of batch.functions ?? []) integer(f.hits, 'hits'), integer(f.misses, 'misses'), finite(f.computeTimeSavedMs, 'computeTimeSavedMs');
  for (const b of batch.bodies ?? []) finite(b.usedMs, 'usedMs');
}

/** One record per key (see the module comment). */
export function mergeBatch(batch: IndexBatch): MergedBatch {
  const put = new Map<string, IndexEntry>();
  for (const e of batch.put ?? []) put.set(e.key, e);
  const hits = new Map<string, Hit>();
  for (const h of batch.hits ?? []) {
    const seen = hits.get(h.key);
    hits.set(h.key, seen ? { ...seen, hits: seen.hits + h.hits, lastAccessMs: Math.max(seen.lastAccessMs, h.lastAccessMs) } : h);
  }
  const functions = new Map<string, Fn>();
  for (const f of batch.functions ?? []) {
    const seen = functions.get(f.folder);
    functions.set(f.folder, seen ? { ...f, hits: seen.hits + f.hits, misses: seen.misses + f.misses, computeTimeSavedMs: seen.computeTimeSavedMs + f.computeTimeSavedMs } : f);
  }
  const bodies = new Map<string, MergedBatch['bodies'][number]>();
  for (const b of batch.bodies ?? []) {
    const id = `${b.folder}/${b.body}`;
    const seen = bodies.get(id);
    bodies.set(id, seen ? { ...seen, name: b.name, firstMs: Math.min(seen.firstMs, b.usedMs), lastMs: Math.max(seen.lastMs, b.usedMs) } : { folder: b.folder, body: b.body, name: b.name, firstMs: b.usedMs, lastMs: b.usedMs });
  }
  // Sorted by key: concurrent transactions then lock rows in one order (no deadlock between two flushes).
  const byKey = <T>(items: Map<string, T>) => [...items].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  return { put: byKey(put), hits: byKey(hits), functions: byKey(functions), bodies: byKey(bodies) };
}

/** The smallest string greater than every string starting with `prefix` (keys are ASCII). */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/** Which body records `deletePrefix(prefix)` removes: '' all, 'folder/' one function's, 'folder/body/' one body's. */
export function bodyPrefixOf(prefix: string): string {
  const [folder, body] = prefix.split('/');
  return !folder ? '' : !body ? `${folder}/` : `${folder}/${body}/`;
}
