/**
 * Backend 'bullmq' on the real Redis of scripts/services.sh, with real
 * larder-worker child processes (separate working directories and temp
 * folders): the backend conformance suite, large arrays through the store,
 * remote errors, a worker killed with -9 mid-batch, and a cached function
 * shared by two worker processes. Each test file has its own queues.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { Memory } from '@larder/memory';
import { delayed, Parallel, ParallelError, type ParallelOptions } from '@larder/parallel';
import { openStore, type BlobStore } from '@larder/store-fs';
import { throughInterface } from '@larder/store-fs/testing';
import { backendConformance } from '../../packages/parallel/test/conformance-suite.js';
import { t } from '../../packages/parallel/test/fixtures/math-tasks.js';
import { remote } from './fixtures/remote-tasks.js';
import { repoRoot, startWorker, type WorkerProcess } from './larder-workers.js';
import { requireService, serviceSettings, tcpReachable } from './settings.js';
import { redisCommands } from './wire.js';

const settings = serviceSettings();
const runId = `${process.pid}-${randomBytes(3).toString('hex')}`;
const scratch = mkdtempSync(join(tmpdir(), 'larder-bullmq-test-'));
const workers: WorkerProcess[] = [];
const queues: string[] = [];

/** A queue of this run, removed from Redis at the end. */
function queueName(topic: string): string {
  const name = `larder-test-bullmq-${topic}-${runId}`;
  queues.push(name);
  return name;
}

async function redisUrl(context: TestContext): Promise<string> {
  return (await requireService(context, 'redis', settings.redis, tcpReachable)).href;
}

async function workersFor(connection: string, queue: string, count: number, env?: Record<string, string>, stores?: string[]): Promise<WorkerProcess[]> {
  const started = await Promise.all(Array.from({ length: count }, () => startWorker({ connection, queue, ...(env ? { env } : {}), ...(stores ? { stores } : {}) })));
  workers.push(...started);
  return started;
}

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.kill()));
  if (settings.redis && (await tcpReachable(settings.redis))) {
    // BullMQ keeps a queue under bull:<name>:*; this run's queues only.
    const dropQueue = "for _, key in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', key) end return 1";
    await redisCommands(settings.redis, queues.map((name) => ['EVAL', dropQueue, '0', `bull:${name}:*`]));
  }
  rmSync(scratch, { recursive: true, force: true });
});

// Two workers serve the conformance suite and the tests of what travels where, with these stores.
const sharedQueue = queueName('conformance');
const conformanceStore = join(scratch, 'conformance-store');
const transferStore = join(scratch, 'transfer-store');
const sharedStores = [conformanceStore, transferStore];
let sharedWorkers: Promise<WorkerProcess[]> | undefined;

// Started, and their threads warmed up (tsx, the task module), before the
// suite's first test, whose time limit is not meant for process starts.
beforeAll(async () => {
  if (!settings.redis || !(await tcpReachable(settings.redis))) return; // each test then skips (or fails in CI), saying why
  const connection = settings.redis.href;
  sharedWorkers = workersFor(connection, sharedQueue, 2, undefined, sharedStores);
  await sharedWorkers;
  await using pool = new Parallel({ backend: 'bullmq', connection, queue: sharedQueue, nJobs: 4, batchSize: 1 });
  await pool.map(t.sleepThen, [200, 200, 200, 200, 200, 200, 200, 200]);
}, 120_000);
/** A pool on the shared queue, its two workers started on first use. */
async function sharedPool(context: TestContext, options: ParallelOptions): Promise<Parallel> {
  const connection = await redisUrl(context);
  await (sharedWorkers ??= workersFor(connection, sharedQueue, 2, undefined, sharedStores));
  return new Parallel({ backend: 'bullmq', connection, queue: sharedQueue, ...options });
}

backendConformance({ backend: 'bullmq', open: (context, options) => sharedPool(context, { store: conformanceStore, ...options }) });

/** A real folder store that counts what goes through it. */
function countingStore(folder: string): { store: BlobStore; counts: { put: number; get: number } } {
  const inner = openStore(folder);
  const store = throughInterface(inner, inner.description); // workers open the store by its description
  return { store, counts: store.calls };
}

async function storedKeys(store: BlobStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of store.list('')) keys.push(entry.key);
  return keys;
}

describe('bullmq: what travels where', () => {
  it('typed arrays above maxNbytes travel through the store, once per call, and are removed when the call ends', async (context) => {
    const { store, counts } = countingStore(transferStore);
    await using pool = await sharedPool(context, { store, nJobs: 2, batchSize: 1 });
    const big = Float64Array.from({ length: 1 << 20 }, (_, i) => i % 7); // 8 MiB, shared by both tasks
    const half = (from: number, to: number): number => big.subarray(from, to).reduce((sum, x) => sum + x, 0);
    expect(await pool.run([delayed(t.sumHalf)(big, 0), delayed(t.sumHalf)(big, 1)])).toEqual([half(0, 1 << 19), half(1 << 19, 1 << 20)]);
    expect(counts.put).toBe(1);
    expect(await storedKeys(store)).toEqual([]);

    // A result above maxNbytes comes back through the store too, whole.
    const [made] = await pool.map(t.makeArray, [300_000]);
    expect(made).toBeInstanceOf(Float64Array);
    expect(made).toEqual(Float64Array.from({ length: 300_000 }, (_, i) => i));
    expect(counts.get).toBe(1);
    expect(await storedKeys(store)).toEqual([]);

    // A reply above 256 KB (here 16 arrays of 160 KB, each below maxNbytes) comes through the store as a whole,
    // not through BullMQ's event stream, which keeps the last ~10 000 replies.
    const many = await pool.map(t.makeArray, Array.from({ length: 16 }, () => 20_000), { batchSize: 16 });
    expect(many).toHaveLength(16);
    expect(many[15]).toEqual(Float64Array.from({ length: 20_000 }, (_, i) => i));
    expect(counts.get).toBe(2);
    expect(await storedKeys(store)).toEqual([]);

    // Small arrays stay in the job.
    expect(await pool.run([delayed(t.sumHalf)(new Float64Array([1, 2, 3, 4]), 0)])).toEqual([3]);
    expect(counts.put).toBe(1);
  });

  it('without a store, an argument above maxNbytes is refused before any job is added', async (context) => {
    await using pool = await sharedPool(context, { nJobs: 2 });
    const error = (await pool.map(t.sumHalf, [new Float64Array(1 << 18)]).catch((e: unknown) => e)) as ParallelError;
    expect(error).toBeInstanceOf(ParallelError);
    expect(error.code).toBe('LARDER_OPTION');
    expect(error.message).toMatch(/maxNbytes .* store/);
  });

  it('what tasks print on a worker is printed by the caller', async (context) => {
    await using pool = await sharedPool(context, { nJobs: 2 });
    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      await pool.map(remote.print, ['hello from a worker']);
    } finally {
      process.stdout.write = write;
    }
    expect(written.join('')).toContain('hello from a worker\n');
  });

  it('a task module the worker cannot find is LARDER_TASK_IMPORT naming where it looked', async (context) => {
    const file = join(repoRoot, 'test/services/fixtures', `gone-tasks-${runId}.ts`);
    writeFileSync(file, "import { tasks } from '@larder/parallel';\nexport const gone = tasks(import.meta.url, { twice: (x: number) => 2 * x });\n");
    const { gone } = (await import(file)) as { gone: { twice: (x: number) => number } };
    rmSync(file);
    await using pool = await sharedPool(context, { nJobs: 2 });
    const error = (await pool.map(gone.twice, [1]).catch((e: unknown) => e)) as ParallelError;
    expect(error.code).toBe('LARDER_TASK_IMPORT');
    expect(error.message).toMatch(/is not on this worker .*tried .*gone-tasks/);
    expect(error.taskIndex).toBe(0);
  });
});

describe('bullmq: a worker killed mid-batch', () => {
  it('its batch is run again by another worker (once), and the call gets the result', async (context) => {
    const connection = await redisUrl(context);
    const queue = queueName('killed');
    const marker = join(scratch, 'killed-once');
    const [first] = await workersFor(connection, queue, 1);
    await using pool = new Parallel({ backend: 'bullmq', connection, queue, nJobs: 1 });
    const result = pool.run([delayed(remote.recordThenSleep)(marker, 1_500)]);
    // Its pid written (the file exists a moment before its line does).
    await until(() => recorded(marker).length === 1);
    await first!.kill();
    const [second] = await workersFor(connection, queue, 1);
    expect(await result).toEqual([second!.pid]);
    expect(recorded(marker)).toEqual([first!.pid, second!.pid]);
  }, 90_000);

  it('killed twice, the batch is reported as LARDER_WORKER_EXIT', async (context) => {
    const connection = await redisUrl(context);
    const queue = queueName('killed-twice');
    const marker = join(scratch, 'killed-twice');
    await using pool = new Parallel({ backend: 'bullmq', connection, queue, nJobs: 1 });
    const result = pool.run([delayed(remote.recordThenSleep)(marker, 10_000)]).catch((e: unknown) => e);
    for (const lines of [1, 2]) {
      const [worker] = await workersFor(connection, queue, 1);
      await until(() => recorded(marker).length === lines);
      await worker!.kill();
    }
    await workersFor(connection, queue, 1); // finds the batch stalled a second time
    const error = (await result) as ParallelError;
    expect(error).toBeInstanceOf(ParallelError);
    expect(error.code).toBe('LARDER_WORKER_EXIT');
    expect(error.taskIndex).toBe(0);
    expect(error.message).toMatch(/stopped answering twice/);
  }, 90_000);
});

describe('bullmq: cached functions inside remote tasks', () => {
  it('two worker processes share one Memory folder: the second run computes nothing', async (context) => {
    const connection = await redisUrl(context);
    const queue = queueName('cached');
    const env = { LARDER_TEST_CACHE: join(scratch, 'cache'), LARDER_TEST_COUNTER: join(scratch, 'counter') };
    mkdirSync(env.LARDER_TEST_COUNTER, { recursive: true });
    Object.assign(process.env, env);
    const { cachedCube } = await import('./fixtures/remote-cached-tasks.js');
    const pair = await workersFor(connection, queue, 2, env);
    const inputs = [1, 2, 3, 4, 5, 6, 7, 8];
    const expected = inputs.map((x) => Float64Array.from({ length: 100 }, (_, i) => x ** 3 + i));

    await using first = new Parallel({ backend: 'bullmq', connection, queue, nJobs: 4, batchSize: 1 });
    expect(await first.map(cachedCube, inputs)).toEqual(expected);
    const computed = readdirSync(env.LARDER_TEST_COUNTER);
    expect(computed).toHaveLength(inputs.length);
    const pids = new Set(computed.map((name) => Number(/-pid-(\d+)-/.exec(name)![1])));
    expect([...pids].sort()).toEqual(pair.map((worker) => worker.pid).sort());

    await using second = new Parallel({ backend: 'bullmq', connection, queue, nJobs: 4, batchSize: 1 });
    expect(await second.map(cachedCube, inputs)).toEqual(expected);
    expect(readdirSync(env.LARDER_TEST_COUNTER)).toHaveLength(inputs.length);

    // SIGTERM: the workers finish, run their threads' teardown hooks (the cache's index writes), exit 0.
    expect(await Promise.all(pair.map((worker) => worker.stop()))).toEqual([0, 0]);
    await using memory = new Memory(env.LARDER_TEST_CACHE);
    const stats = await memory.stats();
    expect({ entries: stats.entries, hits: stats.hits, misses: stats.misses }).toEqual({ entries: 8, hits: 8, misses: 8 });
  }, 120_000);
});

/** The pids recordThenSleep wrote to `marker`, whole lines only. */
function recorded(marker: string): number[] {
  if (!existsSync(marker)) return [];
  return readFileSync(marker, 'utf8').split('\n').slice(0, -1).map(Number);
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(25);
  }
}
