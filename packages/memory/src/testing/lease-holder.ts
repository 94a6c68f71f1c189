/**
 * The child process of the lease suite's SIGKILL test: imports the user's
 * module, takes the lease of a key through its `createLeaseStore()`, prints
 * `held`, and renews the lease every ttlMs / 3 until it is killed.
 *
 * Usage: node [flags] lease-holder.js <module URL> <key> <ttlMs>
 */
import type { LeaseStore } from '../lease.js';

async function main(): Promise<void> {
  const [moduleUrl, key, ttlText] = process.argv.slice(2);
  const ttlMs = Number(ttlText);
  const module = (await import(moduleUrl!)) as { createLeaseStore?: () => LeaseStore | Promise<LeaseStore> };
  if (typeof module.createLeaseStore !== 'function') throw new Error(`[larder/memory] ${moduleUrl} exports no createLeaseStore()`);
  const store = await module.createLeaseStore();
  const attempt = await store.acquire(key!, ttlMs);
  if (attempt.kind !== 'held') {
    process.stdout.write(`not held: ${attempt.kind}\n`);
    process.exit(1);
  }
  setInterval(() => void store.renew(key!, attempt.token, ttlMs), Math.max(10, Math.floor(ttlMs / 3)));
  process.stdout.write('held\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
