/**
 * The in-process `LeaseStore`: leases in a Map, for a location that has no
 * folder to put lease files in (a Memory over a BlobStore object, when no
 * `leases` option is given). It coordinates identical calls of every Memory
 * in this thread that shares the store object; other threads, processes and
 * machines do not see it (pass a shared lease store as `leases` for that).
 * A lease not renewed for its `ttlMs` may be taken over, as everywhere.
 */
import { randomBytes } from 'node:crypto';
import { checkLeaseKey, type LeaseAttempt, type LeaseStore } from './lease.js';

interface Held { token: string; expiresMs: number }

/**
 * Leases held in this thread's memory.
 *
 * @example
 * ```ts
 * import { InProcessLeaseStore, Memory } from '@larder/memory';
 * import { openStore } from '@larder/store-fs';
 * const memory = new Memory(openStore('/tmp/larder-blobs'), { leases: new InProcessLeaseStore() });
 * ```
 */
export class InProcessLeaseStore implements LeaseStore {
  readonly description = 'in-process leases (this thread only)';
  private readonly leases = new Map<string, Held>();

  async acquire(key: string, ttlMs: number): Promise<LeaseAttempt> {
    checkLeaseKey(key);
    const now = Date.now();
    const held = this.leases.get(key);
    if (held !== undefined && held.expiresMs > now) return { kind: 'busy' };
    const token = randomBytes(8).toString('hex');
    this.leases.set(key, { token, expiresMs: now + ttlMs });
    return { kind: 'held', token };
  }

  async renew(key: string, token: string, ttlMs: number): Promise<boolean> {
    checkLeaseKey(key);
    const held = this.leases.get(key);
    if (held?.token !== token) return false;
    held.expiresMs = Date.now() + ttlMs;
    return true;
  }

  async release(key: string, token: string): Promise<void> {
    checkLeaseKey(key);
    if (this.leases.get(key)?.token === token) this.leases.delete(key);
  }

  async takeOver(key: string, _ttlMs: number): Promise<boolean> {
    checkLeaseKey(key);
    const held = this.leases.get(key);
    // A holder in this thread is alive as long as it renews: only an expired lease is stale.
    if (held === undefined || held.expiresMs > Date.now()) return false;
    this.leases.delete(key);
    return true;
  }
}
