/**
 * The Redis {@link IndexStore}: larder's index as larder's own keys in one
 * namespace of a Redis database (layout and scripts in index-redis-scripts.ts),
 * reached through `@keyv/redis`'s client (redis-connection.ts).
 *
 * - Atomic: a batch is one Lua script; counters are HINCRBY / HINCRBYFLOAT.
 * - Ordered paging: two sorted sets at score 0 read with ZRANGEBYLEX, one by
 *   key, one by (last access, key), so a page costs O(log n + page).
 * - Aggregates: per-body entry and byte counts kept up to date by the same
 *   scripts, so `aggregate()` reads one hash.
 * - Nothing outside the namespace: every key starts with
 *   `larder:{<namespace>}:`; `clear()` deletes those and nothing else, so a
 *   Redis shared with BullMQ or another location keeps its keys.
 */
import { keyParts, MAX_PAGE, type BodyAggregate, type BodyRecord, type FunctionCounters, type IndexBatch, type IndexCapabilities, type IndexEntry, type IndexStore, type PageOptions } from './index-store.js';
import { APPLY, CLEAR_STEP, DELETE_BODIES, DELETE_KEYS, DELETE_RANGE, PAGE } from './index-redis-scripts.js';
import { bodyPrefixOf, checkBatch, mergeBatch, prefixEnd } from './index-batch.js';
import { RedisConnection } from './redis-connection.js';
import { checkNamespace, remoteOf, type RemoteUrl } from './remote-url.js';

const STEP = 1000;

/**
 * 16 hex digits that sort (as text) like the number `ms`: IEEE-754 bits, sign flipped for
 * positives and every bit flipped for negatives.
 */
export function sortableHex(ms: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, ms === 0 ? 0 : ms);
  let hi = view.getUint32(0);
  let lo = view.getUint32(4);
  if (hi & 0x8000_0000) (hi = ~hi >>> 0), (lo = ~lo >>> 0);
  else hi = (hi | 0x8000_0000) >>> 0;
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** Redis key prefix of a namespace: the braces are a hash tag, so a cluster keeps the namespace in one slot (scripts touch several keys). */
export function redisPrefix(namespace: string): string {
  return `larder:{${namespace}}:`;
}

function pairs(reply: unknown): Map<string, string> {
  const flat = reply as string[];
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i]!, flat[i + 1]!);
  return out;
}

function nameOf(text: string | null | undefined, fallback: string): string {
  if (text == null) return fallback;
  try {
    const name = JSON.parse(text) as unknown;
    return typeof name === 'string' ? name : fallback;
  } catch {
    return fallback;
  }
}

/** The bodies a per-body hash (`agg`, `bd`: fields `<folder>/<body>|…`) has, as [id, folder, body], of one folder or all. */
function* perBody(fields: Map<string, string>, folder: string | undefined): Generator<[string, string, string]> {
  for (const field of fields.keys()) {
    if (!field.endsWith('|n')) continue;
    const id = field.slice(0, -2);
    const [f, body] = keyParts(`${id}/`);
    if (folder === undefined || f === folder) yield [id, f, body];
  }
}

type Row = [string, string | null, string | null, string | null, string | null, string | null, string | null];

function entryOf(row: Row): IndexEntry | undefined {
  const [key, name, bytes, created, last, compute, hits] = row;
  if (name == null) return undefined; // deleted meanwhile (a clear() between steps)
  return { key, name: nameOf(name, key.split('/')[0]!), bytes: Number(bytes), createdMs: Number(created), lastAccessMs: Number(last), computeMs: Number(compute), hits: Number(hits) };
}

/** Options of {@link RedisIndexStore.open}. */
export interface RedisIndexOptions {
  /** The server, e.g. `redis://cache-host:6379/0` (a `?namespace=` parameter is ignored here: pass `namespace`). */
  url: string | RemoteUrl;
  /** Scopes every key: `larder:{<namespace>}:…`. One per cache location. */
  namespace: string;
}

/** larder's index in a Redis namespace (see the module comment). */
export class RedisIndexStore implements IndexStore {
  readonly capabilities: IndexCapabilities = { atomicIncrements: true, orderedPaging: true, persistent: true };
  readonly description: string;
  private readonly prefix: string;

  private constructor(private readonly connection: RedisConnection, readonly namespace: string) {
    this.prefix = redisPrefix(namespace);
    this.description = `Redis index ${connection.remote.display} (namespace ${namespace})`;
  }

  /**
   * A Redis index. Connects on first use (so a Memory starts even while Redis is down; its
   * bookkeeping then warns and waits for the next flush).
   *
   * @example
   * ```ts
   * import { RedisIndexStore, Memory } from '@larder/memory';
   * const index = RedisIndexStore.open({ url: 'redis://127.0.0.1:6379', namespace: 'sweeps' });
   * const memory = new Memory('shared-cache', { index });
   * ```
   */
  static open(options: RedisIndexOptions): RedisIndexStore {
    const remote: RemoteUrl = remoteOf(options.url, 'redis', 'RedisIndexStore url');
    return new RedisIndexStore(new RedisConnection(remote, 'the Redis index'), checkNamespace(options.namespace, 'RedisIndexStore'));
  }

  private eval<T>(script: string, ...args: string[]): Promise<T> {
    return this.connection.eval<T>(script, [this.prefix, ...args]);
  }

  async apply(batch: IndexBatch): Promise<void> {
    checkBatch(batch);
    const { put, hits, functions, bodies } = mergeBatch(batch);
    if (put.length + hits.length + functions.length + bodies.length === 0) return;
    const s = String;
    await this.eval(APPLY, JSON.stringify({
      put: put.map((e) => [e.key, JSON.stringify(e.name), s(e.bytes), s(e.createdMs), s(e.lastAccessMs), s(e.computeMs), s(e.hits), sortableHex(e.lastAccessMs)]),
      hits: hits.map((h) => [h.key, JSON.stringify(h.name), s(h.hits), s(h.lastAccessMs), s(h.createdMs), s(h.computeMs), s(h.bytes), sortableHex(h.lastAccessMs)]),
      fns: functions.map((f) => [f.folder, JSON.stringify(f.name), s(f.hits), s(f.misses), s(f.computeTimeSavedMs)]),
      bodies: bodies.map((b) => [b.folder, b.body, JSON.stringify(b.name), s(b.firstMs), s(b.lastMs)]),
    }));
  }

  async getEntries(keys: readonly string[]): Promise<(IndexEntry | undefined)[]> {
    const out: (IndexEntry | undefined)[] = [];
    for (let i = 0; i < keys.length; i += STEP) {
      const part = keys.slice(i, i + STEP);
      const replies = await this.connection.pipeline(part.map((key) => ['HMGET', `${this.prefix}e:${key}`, 'name', 'bytes', 'created', 'last', 'compute', 'hits']));
      replies.forEach((reply, k) => out.push(entryOf([part[k]!, ...(reply as string[])] as Row)));
    }
    return out;
  }

  async deleteEntries(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += STEP) await this.eval(DELETE_KEYS, ...keys.slice(i, i + STEP));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const [min, max] = prefix === '' ? ['-', '+'] : [`[${prefix}`, `(${prefixEnd(prefix)}`];
    let removed = 0;
    // A step at a time, so a large deletion never blocks the server for long.
    for (let n = STEP; n === STEP; removed += n) n = await this.eval<number>(DELETE_RANGE, min, max, String(STEP));
    await this.eval(DELETE_BODIES, bodyPrefixOf(prefix));
    return removed;
  }

  async page({ order, prefix = '', after, limit }: PageOptions): Promise<IndexEntry[]> {
    const n = Math.max(1, Math.min(MAX_PAGE, Math.floor(limit)));
    let rows: Row[];
    if (order === 'key') {
      const from = after && after.key >= prefix ? `(${after.key}` : prefix === '' ? '-' : `[${prefix}`;
      rows = await this.eval<Row[]>(PAGE, 'keys', from, prefix === '' ? '+' : `(${prefixEnd(prefix)}`, String(n), '');
    } else {
      const from = after ? `(${sortableHex(after.lastAccessMs)}${after.key}` : '-';
      rows = await this.eval<Row[]>(PAGE, 'lru', from, '+', String(n), prefix);
    }
    return rows.map(entryOf).filter((e): e is IndexEntry => e !== undefined);
  }

  private async hash(name: string): Promise<Map<string, string>> {
    return pairs(await this.connection.command(['HGETALL', this.prefix + name]));
  }

  async aggregate(folder?: string): Promise<BodyAggregate[]> {
    const [agg, bodies, fns] = await Promise.all([this.hash('agg'), this.hash('bd'), this.hash('fn')]);
    return [...perBody(agg, folder)].map(([id, f, body]) => ({
      folder: f, body, name: nameOf(bodies.get(`${id}|n`) ?? fns.get(`${f}|n`), f), entries: Number(agg.get(`${id}|n`)), bytes: Number(agg.get(`${id}|b`) ?? 0),
    }));
  }

  async functions(): Promise<FunctionCounters[]> {
    const fns = await this.hash('fn');
    const out: FunctionCounters[] = [];
    for (const [field, name] of fns) {
      if (!field.endsWith('|n')) continue;
      const folder = field.slice(0, -2);
      out.push({ folder, name: nameOf(name, folder), hits: Number(fns.get(`${folder}|h`) ?? 0), misses: Number(fns.get(`${folder}|m`) ?? 0), computeTimeSavedMs: Number(fns.get(`${folder}|s`) ?? 0) });
    }
    return out.sort((a, b) => (a.folder < b.folder ? -1 : a.folder > b.folder ? 1 : 0));
  }

  async bodies(folder?: string): Promise<BodyRecord[]> {
    const bodies = await this.hash('bd');
    return [...perBody(bodies, folder)]
      .map(([id, f, body]) => ({ folder: f, body, name: nameOf(bodies.get(`${id}|n`), f), firstUsedMs: Number(bodies.get(`${id}|a`)), lastUsedMs: Number(bodies.get(`${id}|z`)) }))
      .sort((a, b) => (a.folder < b.folder ? -1 : a.folder > b.folder ? 1 : a.firstUsedMs - b.firstUsedMs));
  }

  async needsReconcile(): Promise<boolean> {
    return (await this.connection.command(['HGET', `${this.prefix}meta`, 'needsReconcile'])) === '1';
  }

  async reconciled(): Promise<void> {
    await this.connection.command(['HDEL', `${this.prefix}meta`, 'needsReconcile']);
  }

  async clear(): Promise<void> {
    for (let n = STEP; n === STEP; ) n = await this.eval<number>(CLEAR_STEP, String(STEP));
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}
