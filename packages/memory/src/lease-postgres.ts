/**
 * In-flight leases in PostgreSQL, for a location shared by several machines:
 * rows of `larder_leases(namespace, key, token, expires_at)` (created by larder
 * beside the index tables). Times are the server's (`clock_timestamp()`), so
 * machines with skewed clocks agree.
 *
 * - acquire: one `INSERT … ON CONFLICT DO UPDATE … WHERE expires_at <= now`:
 *   a free or expired lease becomes the caller's, a live one stays (Postgres
 *   serialises the conflicting inserts, so exactly one caller wins).
 * - renew / release: `UPDATE` / `DELETE` where the token is still the caller's.
 * - takeover: deleting a row whose expiry has passed. A holder killed with -9
 *   stops renewing, so its lease is free within the lease time.
 *
 * Rows with an expiry rather than advisory locks: an advisory lock belongs to
 * a session, so it would need a dedicated connection per held lease (a pooled
 * one may run the unlock on another session); rows work over any pool.
 */
import { randomBytes } from 'node:crypto';
import type { LeaseAttempt, LeaseStore } from './lease.js';
import { PostgresConnection } from './postgres-connection.js';
import { checkNamespace, remoteOf, type RemoteUrl } from './remote-url.js';

export const POSTGRES_LEASE_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS larder_leases (namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,
     token text NOT NULL, expires_at timestamptz NOT NULL, PRIMARY KEY (namespace, key))`,
];

const EXPIRY = `clock_timestamp() + $4::float8 * interval '1 millisecond'`;

/** Options of {@link PostgresLeaseStore}. */
export interface PostgresLeaseOptions {
  /** The database, e.g. `postgres://user@db-host:5432/larder`. */
  url: string | RemoteUrl;
  /** Scopes every lease row. One per cache location (the index's). */
  namespace: string;
}

/**
 * Leases as PostgreSQL rows with an expiry (see the module comment). Connects on first use;
 * while the database is unreachable, `acquire` rejects and a cached call computes without a lease.
 *
 * @example
 * ```ts
 * import { Memory, PostgresLeaseStore } from '@larder/memory';
 * const leases = new PostgresLeaseStore({ url: 'postgres://postgres@127.0.0.1:5432/larder', namespace: 'sweeps' });
 * const memory = new Memory('shared-cache', { leases });
 * ```
 */
export class PostgresLeaseStore implements LeaseStore {
  readonly description: string;
  private readonly db: PostgresConnection;
  private readonly namespace: string;

  constructor(options: PostgresLeaseOptions) {
    const remote: RemoteUrl = remoteOf(options.url, 'postgres', 'PostgresLeaseStore url');
    this.db = new PostgresConnection(remote, 'the PostgreSQL lease store', POSTGRES_LEASE_SCHEMA);
    this.namespace = checkNamespace(options.namespace, 'PostgresLeaseStore');
    this.description = `PostgreSQL leases ${remote.display} (namespace ${options.namespace})`;
  }

  async acquire(key: string, ttlMs: number): Promise<LeaseAttempt> {
    const token = randomBytes(12).toString('hex');
    const { rowCount } = await this.db.query(
      `INSERT INTO larder_leases AS l (namespace, key, token, expires_at) VALUES ($1, $2, $3, ${EXPIRY})
       ON CONFLICT (namespace, key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
       WHERE l.expires_at <= clock_timestamp()`,
      [this.namespace, key, token, ttlMs],
    );
    return rowCount === 1 ? { kind: 'held', token } : { kind: 'busy' };
  }

  async renew(key: string, token: string, ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query(`UPDATE larder_leases SET expires_at = ${EXPIRY} WHERE namespace = $1 AND key = $2 AND token = $3`, [this.namespace, key, token, ttlMs]);
    return rowCount === 1;
  }

  async release(key: string, token: string): Promise<void> {
    await this.db.query('DELETE FROM larder_leases WHERE namespace = $1 AND key = $2 AND token = $3', [this.namespace, key, token]);
  }

  async takeOver(key: string, _ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM larder_leases WHERE namespace = $1 AND key = $2 AND expires_at <= clock_timestamp()', [this.namespace, key]);
    return rowCount === 1;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
