/**
 * Memory across machines: results on S3-compatible storage, the index (and
 * the in-flight leases) on Redis. A joblib user would write a custom store
 * backend for this; here it is a location and an option:
 *
 *   new Memory('s3://larder-examples/shared-cache', { index: 'redis://cache-host:6379', s3: { endpoint, region, credentials, forcePathStyle } })
 *
 * Run it twice, or on two machines with the same settings: the first run
 * computes the simulation, every later one loads it from the bucket (and
 * each machine keeps a local read-through copy of large results). Needs
 * Redis and S3: `bash scripts/services.sh start`, then
 *
 *   eval "$(bash scripts/services.sh env)"; pnpm tsx examples/shared-cache.ts   (twice)
 *   pnpm tsx examples/shared-cache.ts --clear                                   (empties the cache)
 *
 * (or LARDER_REDIS_URL and the AWS_* variables of your own servers).
 */
import { Memory } from '@larder/memory';
import { sized } from './lib/size.js';
import { ensureBucket, EXAMPLE_BUCKET, s3Settings } from './lib/s3-bucket.js';

const redis = process.env.LARDER_REDIS_URL ?? process.env.LARDER_TEST_REDIS_URL;
const s3 = s3Settings();
if (!redis || !s3) {
  console.error('shared-cache: needs Redis and S3. Start them with `bash scripts/services.sh start`, then eval "$(bash scripts/services.sh env)"');
  process.exit(1);
}
await ensureBucket(s3);
const location = `s3://${EXAMPLE_BUCKET}/${process.env.LARDER_EXAMPLE_PREFIX ?? 'shared-cache'}`;

await using memory = new Memory(location, { index: redis, s3 });
if (process.argv.includes('--clear')) {
  await memory.clear();
  console.log(`cleared ${location}`);
  process.exit(0);
}

/** A random walk per seed: the expensive step of a sweep (deterministic in its arguments). */
const simulate = memory.cache(function simulate(seed: number, steps: number): Float64Array {
  let state = seed;
  const walk = new Float64Array(steps);
  for (let i = 1; i < steps; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    walk[i] = walk[i - 1]! + (state / 2147483648 - 0.5);
  }
  return walk;
}, { name: 'simulate' });

const steps = sized(4_000_000, 500_000); // 32 MB a walk at full size
const seeds = [1, 2, 3];
const cached = await Promise.all(seeds.map((seed) => simulate.isCached(seed, steps)));
const started = performance.now();
const walks = await Promise.all(seeds.map((seed) => simulate(seed, steps)));
const took = (performance.now() - started).toFixed(0);
const ends = walks.map((walk) => walk[walk.length - 1]!.toFixed(2)).join(', ');
console.log(`${seeds.length} walks of ${steps} steps (ends ${ends}): ${cached.every(Boolean) ? 'loaded from the shared cache' : 'computed and stored'} in ${took} ms`);
const stats = await memory.stats();
console.log(`${location}: ${stats.entries} entries, ${stats.hits} hits, ${stats.misses} misses (from the Redis index)`);
