/**
 * The stores behind `index: 'redis://…' | 'postgres://…'` and
 * `leases: 'redis://…' | 'postgres://…'`, scoped to a location's namespace.
 * Leases default to the index's server when the index is on Redis or
 * Postgres: a location shared through a remote index is shared by machines,
 * and lease files next to the entries only coordinate one host.
 *
 * Imported on first use only (index-open.ts, lease-remote.ts): a process on a
 * local index (`larder ls`, most caches) never loads the Redis and Postgres modules.
 */
import { PostgresIndexStore } from './index-postgres.js';
import { RedisIndexStore } from './index-redis.js';
import type { IndexStore } from './index-store.js';
import { PostgresLeaseStore } from './lease-postgres.js';
import { RedisLeaseStore } from './lease-redis.js';
import type { LeaseStore } from './lease.js';
import { namespaceOf, type RemoteUrl } from './remote-url.js';

/** The index of `location` on the server `remote` names. */
export function openRemoteIndex(remote: RemoteUrl, location: string): IndexStore {
  const namespace = namespaceOf(remote, location);
  return remote.kind === 'redis' ? RedisIndexStore.open({ url: remote, namespace }) : PostgresIndexStore.open({ url: remote, namespace });
}

/** The lease store of `location` on the server `remote` names. */
export function openRemoteLeases(remote: RemoteUrl, location: string): LeaseStore {
  const namespace = namespaceOf(remote, location);
  return remote.kind === 'redis' ? new RedisLeaseStore({ url: remote, namespace }) : new PostgresLeaseStore({ url: remote, namespace });
}
