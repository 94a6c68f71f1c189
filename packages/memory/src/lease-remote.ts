/**
 * The lease store the `leases` and `index` options name, made without loading
 * the Redis or Postgres modules: a {@link DeferredLeaseStore} imports them
 * (remote-open.ts) on its first operation. `new Memory(...)` stays synchronous
 * and a process on a local index never pays for modules it does not use.
 */
import type { LeaseAttempt, LeaseStore } from './lease.js';
import { namespaceOf, parseRemoteUrl, type RemoteUrl } from './remote-url.js';

/** A remote lease store opened on first use; the same description and behaviour as the store it opens. */
class DeferredLeaseStore implements LeaseStore {
  readonly description: string;
  private opened: Promise<LeaseStore> | undefined;

  constructor(
    private readonly remote: RemoteUrl,
    private readonly location: string,
  ) {
    this.description = `${remote.kind === 'redis' ? 'Redis' : 'PostgreSQL'} leases ${remote.display} (namespace ${namespaceOf(remote, location)})`;
  }

  private store(): Promise<LeaseStore> {
    return (this.opened ??= import('./remote-open.js').then((remote) => remote.openRemoteLeases(this.remote, this.location)));
  }

  async acquire(key: string, ttlMs: number): Promise<LeaseAttempt> {
    return (await this.store()).acquire(key, ttlMs);
  }

  async renew(key: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.store()).renew(key, token, ttlMs);
  }

  async release(key: string, token: string): Promise<void> {
    return (await this.store()).release(key, token);
  }

  async takeOver(key: string, ttlMs: number): Promise<boolean> {
    return (await this.store()).takeOver(key, ttlMs);
  }

  /** Closes the store if it was ever opened (nothing to close otherwise). */
  async close(): Promise<void> {
    if (this.opened !== undefined) await (await this.opened).close?.();
  }
}

/**
 * The lease store the `leases` and `index` options ask for: a `redis://` / `postgres://` URL of
 * its own, else the index's server when that is one, else undefined (the caller's default).
 * Bad URLs throw here, at once; the store's modules load on its first operation.
 */
export function leasesFor(leases: string | undefined, index: unknown, location: string): LeaseStore | undefined {
  const remote = typeof leases === 'string' ? parseRemoteUrl(leases, 'leases') : typeof index === 'string' ? parseRemoteUrl(index, 'index') : undefined;
  return remote && new DeferredLeaseStore(remote, location);
}
