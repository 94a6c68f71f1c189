/**
 * The PostgreSQL pool of an index or lease store, through `pg` (loaded on
 * first use; the driver @keyv/postgres runs on). larder keeps its own pool
 * rather than @keyv/postgres's: that one is a single pool per process and URL
 * whose `disconnect()` ends it for every other user.
 *
 * Like the Redis connection it fails fast (a short connect timeout, and after
 * a failed connect commands fail at once for a moment) and never keeps a
 * script's process alive while idle (`allowExitOnIdle`).
 */
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { loadDriver, type RemoteUrl } from './remote-url.js';

type PgModule = typeof import('pg');

const CONNECT_TIMEOUT_MS = 2_000;
/** Clients of one pool. larder queues its own work beyond this, since pg's connectionTimeoutMillis also fails requests that merely wait for a free client. */
const POOL_SIZE = 4;
const RETRY_AFTER_MS = 1_000;
/** Retried: deadlock_detected, serialization_failure. */
const RETRY_CODES = new Set(['40P01', '40001']);

/** Serialises `CREATE TABLE IF NOT EXISTS` across processes (two creating at once can collide in pg_type). */
const SCHEMA_LOCK = 0x6c617264; // 'lard'

export class PostgresConnection {
  private pool: Promise<Pool> | undefined;
  private downUntil = 0;
  private lastError: unknown;
  private ready: Promise<void> | undefined;
  /** Checked-out clients, and work waiting for one (see POOL_SIZE). */
  private inUse = 0;
  private readonly waiting: (() => void)[] = [];
  /** Clients given an 'error' listener (pg emits the loss of a checked-out client's connection there). */
  private readonly listened = new WeakSet<PoolClient>();

  constructor(readonly remote: RemoteUrl, private readonly use: string, private readonly schema: readonly string[]) {}

  private open(): Promise<Pool> {
    this.pool ??= loadDriver<PgModule & { default?: PgModule }>('pg', this.use).then((pg) => {
      const pool = new (pg.default ?? pg).Pool({ connectionString: this.remote.url, max: POOL_SIZE, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, allowExitOnIdle: true });
      // An idle client whose server went away emits 'error' on the pool: without a listener it would throw in the process.
      pool.on('error', (error) => void (this.lastError = error));
      return pool;
    });
    return this.pool;
  }

  /** A client of the pool (released with {@link done}), waiting in larder's queue while all are busy. */
  private async client(): Promise<PoolClient> {
    if (this.inUse >= POOL_SIZE) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inUse++;
    try {
      return await this.checkOut();
    } catch (error) {
      this.next();
      throw error;
    }
  }

  /** Hands the slot of a released client to the next waiting piece of work. */
  private next(): void {
    const wake = this.waiting.shift();
    if (wake) wake();
    else this.inUse--;
  }

  private done(client: PoolClient, broken = false): void {
    client.release(broken);
    this.next();
  }

  /** A client of the pool, after the schema exists (created once per pool). */
  private async checkOut(): Promise<PoolClient> {
    if (Date.now() < this.downUntil) throw new Error(`${this.use}: ${this.remote.display} is unreachable (${(this.lastError as Error)?.message ?? String(this.lastError)})`, { cause: this.lastError });
    let client: PoolClient;
    try {
      client = await (await this.open()).connect();
      if (!this.listened.has(client)) {
        this.listened.add(client);
        // Without a listener, a connection lost while checked out would throw in the process; the query under way reports it.
        client.on('error', (error) => void (this.lastError = error));
      }
    } catch (error) {
      if ((error as { code?: string })?.code === 'LARDER_MISSING_DRIVER') throw error;
      this.lastError = error;
      this.downUntil = Date.now() + RETRY_AFTER_MS;
      throw new Error(`${this.use}: cannot connect to ${this.remote.display}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    this.ready ??= this.createSchema(client).catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    try {
      await this.ready;
    } catch (error) {
      client.release(true);
      throw error;
    }
    return client;
  }

  private async createSchema(client: PoolClient): Promise<void> {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      for (const statement of this.schema) await client.query(statement);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** One statement. */
  async query<R extends QueryResultRow = QueryResultRow>(text: string, values: readonly unknown[] = []): Promise<{ rows: R[]; rowCount: number }> {
    const client = await this.client();
    try {
      const result = await client.query<R>(text, values as unknown[]);
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    } finally {
      this.done(client);
    }
  }

  /** `work` inside BEGIN … COMMIT (rolled back when it throws), retried a few times on a deadlock or serialization failure. */
  async transaction<T>(work: (query: PoolClient['query']) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.client();
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await work(client.query.bind(client) as PoolClient['query']);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => void (broken = true));
        if (!RETRY_CODES.has((error as { code?: string })?.code ?? '') || attempt >= 4) throw error;
      } finally {
        this.done(client, broken);
      }
      await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt * Math.random()));
    }
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    this.ready = undefined;
    await (await pool?.catch(() => undefined))?.end();
  }
}
