/**
 * `stats()` and `list()`: what is in a location. The result files are the
 * truth for entries and bytes; the index adds hits, misses, compute time and
 * last access (entries it does not know fall back to the file's mtime).
 */
import type { BlobEntry } from '@larder/store-fs';
import type { EntryRecord, FunctionRecord } from './bookkeeping.js';

/** Counters of one function, or of the whole location. */
export interface FunctionStats {
  /** Result files on disk. */
  entries: number;
  /** Their total size. */
  bytes: number;
  /** Hits recorded in the index (all processes that flushed). */
  hits: number;
  /** Misses (computations) recorded in the index. */
  misses: number;
  /** Sum over hits of the compute time each hit avoided (ms). */
  computeTimeSavedMs: number;
}

/**
 * What `memory.stats()` returns.
 *
 * @example
 * ```ts
 * import { Memory } from '@larder/memory';
 * const stats = await new Memory('.cache').stats();
 * console.log(stats.entries, stats.bytes, stats.hits, stats.misses, stats.perFunction);
 * ```
 */
export interface CacheStats extends FunctionStats {
  /** The same counters per function name. */
  perFunction: Record<string, FunctionStats>;
}

/**
 * One entry, as `memory.list()` and `larder ls` show it.
 *
 * @example
 * ```ts
 * import { Memory } from '@larder/memory';
 * for (const e of await new Memory('.cache').list()) console.log(e.functionName, e.bytes, new Date(e.lastAccessMs));
 * ```
 */
export interface EntrySummary {
  id: string;
  functionName: string;
  bytes: number;
  createdMs: number;
  lastAccessMs: number;
  computeMs: number;
  hits: number;
}

const folderOf = (key: string): string => key.slice(0, key.indexOf('/'));

/** Joins files with their index records. */
export function summarizeEntries(files: readonly BlobEntry[], records: readonly (EntryRecord | undefined)[], names: ReadonlyMap<string, string>): EntrySummary[] {
  return files.map((file, i) => {
    const record = records[i];
    const folder = folderOf(file.key);
    return {
      id: file.key,
      functionName: record?.name ?? names.get(folder) ?? folder,
      bytes: file.bytes,
      createdMs: record?.createdMs ?? file.mtimeMs,
      lastAccessMs: Math.max(record?.lastAccessMs ?? 0, file.mtimeMs),
      computeMs: record?.computeMs ?? 0,
      hits: record?.hits ?? 0,
    };
  });
}

const empty = (): FunctionStats => ({ entries: 0, bytes: 0, hits: 0, misses: 0, computeTimeSavedMs: 0 });

/** Totals and per-function counters. */
export function summarizeStats(entries: readonly EntrySummary[], functions: ReadonlyMap<string, FunctionRecord>): CacheStats {
  const total = empty();
  const perFunction: Record<string, FunctionStats> = {};
  const of = (name: string) => (perFunction[name] ??= empty());
  for (const entry of entries) {
    const fn = of(entry.functionName);
    fn.entries++, total.entries++;
    fn.bytes += entry.bytes, total.bytes += entry.bytes;
  }
  for (const record of functions.values()) {
    const fn = of(record.name);
    fn.hits += record.hits, total.hits += record.hits;
    fn.misses += record.misses, total.misses += record.misses;
    fn.computeTimeSavedMs += record.computeTimeSavedMs, total.computeTimeSavedMs += record.computeTimeSavedMs;
  }
  return { ...total, perFunction };
}
