/** The lease files pass the LeaseStore contract that every lease store runs (@larder/memory/testing). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { leaseStoreConformance } from '@larder/memory/testing';
import { createLeaseStore } from './fixtures/file-lease-store.js';

const root = mkdtempSync(join(tmpdir(), 'larder-lease-suite-'));
// Read by the fixture here and in the suite's child holder process (which inherits the environment).
process.env.LARDER_TEST_LEASE_ROOT = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

leaseStoreConformance(createLeaseStore, {
  describe,
  it,
  name: 'FileLeaseStore',
  killedHolder: { module: new URL('./fixtures/file-lease-store.ts', import.meta.url), execArgv: ['--conditions=larder-source', '--import', 'tsx'] },
});
