/**
 * In-flight leases on Redis, for a location shared by several machines: the
 * lease of entry key `k` is the Redis key `larder:{<namespace>}:lease:<k>`
 * holding the holder's random token.
 *
 * - acquire: `SET key token NX PX ttl`: of several callers exactly one sets it.
 * - renew / release: Lua scripts that PEXPIRE / DEL the key only while it still
 *   holds the caller's token (a lease taken over meanwhile is someone else's).
 * - takeover: Redis expires a lease nobody renewed for `ttlMs` by itself, so a
 *   holder killed with -9 is replaced within the lease time; `takeOver` has
 *   nothing to do and returns false.
 */
import { randomBytes } from 'node:crypto';
import { redisPrefix } from './index-redis.js';
import type { LeaseAttempt, LeaseStore } from './lease.js';
import { RedisConnection } from './redis-connection.js';
import { checkNamespace, remoteOf, type RemoteUrl } from './remote-url.js';

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** Options of {@link RedisLeaseStore}. */
export interface RedisLeaseOptions {
  /** The server, e.g. `redis://cache-host:6379/0`. */
  url: string | RemoteUrl;
  /** Scopes every lease key: `larder:{<namespace>}:lease:…`. One per cache location (the index's). */
  namespace: string;
}

/**
 * Leases as Redis keys with an expiry (see the module comment). Connects on first use; while
 * Redis is unreachable, `acquire` rejects and a cached call computes without a lease.
 *
 * @example
 * ```ts
 * import { Memory, RedisLeaseStore } from '@larder/memory';
 * const leases = new RedisLeaseStore({ url: 'redis://127.0.0.1:6379', namespace: 'sweeps' });
 * const memory = new Memory('shared-cache', { leases });
 * ```
 */
export class RedisLeaseStore implements LeaseStore {
  readonly description: string;
  private readonly connection: RedisConnection;
  private readonly prefix: string;

  constructor(options: RedisLeaseOptions) {
    const remote: RemoteUrl = remoteOf(options.url, 'redis', 'RedisLeaseStore url');
    this.connection = new RedisConnection(remote, 'the Redis lease store');
    this.prefix = `${redisPrefix(checkNamespace(options.namespace, 'RedisLeaseStore'))}lease:`;
    this.description = `Redis leases ${remote.display} (namespace ${options.namespace})`;
  }

  async acquire(key: string, ttlMs: number): Promise<LeaseAttempt> {
    const token = randomBytes(12).toString('hex');
    const reply = await this.connection.command(['SET', this.prefix + key, token, 'NX', 'PX', String(Math.ceil(ttlMs))]);
    return reply === 'OK' ? { kind: 'held', token } : { kind: 'busy' };
  }

  async renew(key: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.connection.command(['EVAL', RENEW, '1', this.prefix + key, token, String(Math.ceil(ttlMs))])) === 1;
  }

  async release(key: string, token: string): Promise<void> {
    await this.connection.command(['EVAL', RELEASE, '1', this.prefix + key, token]);
  }

  /** Redis expires unrenewed leases itself. */
  async takeOver(_key: string, _ttlMs: number): Promise<boolean> {
    return false;
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}
