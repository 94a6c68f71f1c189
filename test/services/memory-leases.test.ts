/**
 * In-flight leases on the real Redis and PostgreSQL of scripts/services.sh:
 * the LeaseStore conformance suite (with a holder process killed by SIGKILL),
 * and two processes sharing one computation through a Memory whose index, and
 * so whose leases, are on the server. Run with `pnpm test:services`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { leaseStoreConformance } from '@larder/memory/testing';
import { createLeaseStore as redisLeases } from './fixtures/redis-lease-store.js';
import { createLeaseStore as postgresLeases } from './fixtures/postgres-lease-store.js';
import { requireService, serviceSettings, tcpReachable } from './settings.js';

const run = promisify(execFile);
const settings = serviceSettings();
const runId = `${process.pid}-${randomBytes(4).toString('hex')}`;
// Read by the fixtures here and in the suite's child holder processes.
process.env.LARDER_TEST_LEASE_NAMESPACE = `t-leases-${runId}`;
const root = fileURLToPath(new URL('../..', import.meta.url));
const execArgv = ['--conditions=larder-source', '--import', 'tsx'];

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const servers = [
  { name: 'redis' as const, url: settings.redis, factory: redisLeases, module: new URL('./fixtures/redis-lease-store.ts', import.meta.url) },
  { name: 'postgres' as const, url: settings.postgres, factory: postgresLeases, module: new URL('./fixtures/postgres-lease-store.ts', import.meta.url) },
];

for (const server of servers) {
  if (!(server.url && (await tcpReachable(server.url)))) {
    it(`LeaseStore conformance: ${server.name} (needs the server)`, async (context) => void (await requireService(context, server.name, server.url, tcpReachable)));
    continue;
  }
  // A 2 s lease time (the suite's default is 800 ms): a lease on a server expires by itself, so on a
  // loaded machine a renewal that the suite schedules ttlMs / 2 late must still land within ttlMs.
  leaseStoreConformance(server.factory, { describe, it, name: `${server.name} leases`, ttlMs: 2_000, killedHolder: { module: server.module, execArgv } });

  describe(`${server.name} leases through Memory`, () => {
    it(`lease: two processes on separate folders with a ${server.name} index never compute one call at once (leases default to the index's server)`, async (context) => {
      const url = await requireService(context, server.name, server.url, tcpReachable);
      // Two "machines": separate local folders, only the server in common (the namespace is named, not derived from the path).
      const folders = [1, 2].map(() => mkdtempSync(join(tmpdir(), 'larder-remote-lease-')));
      dirs.push(...folders);
      const marks = join(mkdtempSync(join(tmpdir(), 'larder-remote-lease-marks-')), 'computed');
      dirs.push(join(marks, '..'));
      const index = `${url.href}${url.search ? '&' : '?'}namespace=t-leases-memory-${runId}-${server.name}`;
      const child = fileURLToPath(new URL('./fixtures/slow-call.ts', import.meta.url));
      const outputs = await Promise.all(folders.map((folder) => run(process.execPath, [...execArgv, child, folder, index, marks], { cwd: root, timeout: 60_000 })));
      expect(outputs.map((o) => o.stdout.trim())).toEqual(['42', '42']);
      // Separate folders: lease files could not see each other, so only the server's lease keeps
      // the two computations apart. The waiter polls its own folder, finds nothing, and computes
      // once the first releases: the two never overlap.
      const log = readFileSync(marks, 'utf8').trim().split('\n').map((line) => line.split(' ').map(Number) as [number, number]);
      expect(log).toHaveLength(2);
      const [a, b] = log.sort((x, y) => x[0] - y[0]);
      expect(b![0]).toBeGreaterThanOrEqual(a![1]);
      const memory = new Memory(folders[0]!, { index });
      await memory.clear();
      await memory.close();
    }, 90_000);
  });
}
