/**
 * The multi-machine examples run as a user runs them, against the servers of
 * scripts/services.sh (settings passed as the services env would), their key
 * output asserted: examples/scale-out.ts (Parallel on BullMQ, large arrays
 * through S3) and examples/shared-cache.ts (Memory on S3 with a Redis index).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it, type TestContext } from 'vitest';
import { requireService, serviceSettings, tcpReachable } from './settings.js';

const tsx = createRequire(import.meta.url).resolve('tsx');
const run = promisify(execFile);
const settings = serviceSettings();

/** The environment `eval "$(bash scripts/services.sh env)"` gives a shell: Redis and S3. */
async function servicesEnv(context: TestContext): Promise<NodeJS.ProcessEnv> {
  const redis = await requireService(context, 'redis', settings.redis, tcpReachable);
  const s3 = await requireService(context, 'S3 (radosgw)', settings.s3, (s) => tcpReachable(s.endpoint));
  return { ...process.env, LARDER_EXAMPLE_SIZE: 'small', LARDER_REDIS_URL: redis.href, AWS_ENDPOINT_URL_S3: s3.endpoint.href, AWS_REGION: s3.region, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
}

function example(name: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ stdout: string }> {
  const file = fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));
  return run(process.execPath, ['--conditions=larder-source', '--import', tsx, file, ...args], { env, timeout: 110_000, encoding: 'utf8' });
}

it('scale-out: two larder-worker processes compute the sweep, the 16 MB signal goes through the S3 store', async (context) => {
  const { stdout } = await example('scale-out.ts', await servicesEnv(context));
  expect(stdout).toMatch(/two larder-worker processes serve queue larder-example-sweep-\d+/);
  expect(stdout).toMatch(/π ≈ 3\.1\d+ from 8 seeds × 200000 samples in \d+ ms, computed by 2 worker processes/);
  expect(stdout).toMatch(/window means of a 16 MB signal sent through the store \(s3:\/\/larder-examples\/transfer-\d+\): 0\.0038, -0\.0029, 0\.0013, 0\.0005/);
}, 120_000);

it('shared-cache: a second machine (its own temp folder) loads what the first computed; --clear empties the cache', async (context) => {
  const env = { ...(await servicesEnv(context)), LARDER_EXAMPLE_PREFIX: `shared-cache-test-${randomBytes(4).toString('hex')}` };
  const machines = [1, 2, 3].map(() => mkdtempSync(join(tmpdir(), 'larder-example-host-')));
  try {
    const outputs: string[] = [];
    for (const [i, dir] of machines.entries()) outputs.push((await example('shared-cache.ts', { ...env, TMPDIR: dir }, ...(i === 2 ? ['--clear'] : []))).stdout);
    expect(outputs[0]).toMatch(/3 walks of 500000 steps \(ends -2373\.87, -2365\.27, -2377\.98\): computed and stored in \d+ ms/);
    expect(outputs[0]).toMatch(/: 3 entries, 0 hits, 3 misses \(from the Redis index\)/);
    expect(outputs[1]).toMatch(/3 walks of 500000 steps \(ends -2373\.87, -2365\.27, -2377\.98\): loaded from the shared cache in \d+ ms/);
    expect(outputs[1]).toMatch(/: 3 entries, 3 hits, 3 misses \(from the Redis index\)/);
    expect(outputs[2]).toMatch(/^cleared s3:\/\/larder-examples\/shared-cache-test-/);
  } finally {
    for (const dir of machines) rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
