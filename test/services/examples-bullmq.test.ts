/**
 * examples/scale-out.ts run as a user runs it, against the Redis of
 * scripts/services.sh, its key output asserted.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { requireService, serviceSettings, tcpReachable } from './settings.js';

const example = fileURLToPath(new URL('../../examples/scale-out.ts', import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx');

it('scale-out: two larder-worker processes compute the sweep, the 16 MB signal goes through the store', async (context) => {
  const redis = await requireService(context, 'redis', serviceSettings().redis, tcpReachable);
  const env = { ...process.env, LARDER_EXAMPLE_SIZE: 'small', LARDER_REDIS_URL: redis.href };
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=larder-source', '--import', tsx, example], { env, timeout: 110_000, encoding: 'utf8' });
  expect(stdout).toMatch(/two larder-worker processes serve queue larder-example-sweep-\d+/);
  expect(stdout).toMatch(/π ≈ 3\.1\d+ from 8 seeds × 200000 samples in \d+ ms, computed by 2 worker processes/);
  expect(stdout).toContain('window means of a 16 MB signal sent through the store: 0.0038, -0.0029, 0.0013, 0.0005');
}, 120_000);
