/**
 * Backend 'bullmq' against hostile replies: a job's answer comes through
 * Redis (the queue's event stream), which other programs sharing the server
 * can write, and from whatever serves the queue. A reply may name store keys
 * (a stored reply, or typed arrays left in the store); the pool reads and
 * then deletes those keys, so it must accept only the keys its own batch's
 * worker writes (`<call>/reply<first>`, `<call>/r<first>-<n>`): anything else
 * in the store (another call's arrays, a cache sharing the store, the
 * user's own values) is never read as a result nor deleted.
 *
 * The "worker" here is a real BullMQ Worker on the pool's queue that answers
 * with a crafted reply, as a hostile program on the same Redis could.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { delayed, Parallel, ParallelError } from '@larder/parallel';
import { openStore } from '@larder/store-fs';
import { t } from '../../packages/parallel/test/fixtures/math-tasks.js';
import { repoRoot, startWorker, type WorkerProcess } from './larder-workers.js';
import { requireService, serviceSettings, tcpReachable } from './settings.js';
import { redisCommands } from './wire.js';

const settings = serviceSettings();
const runId = `${process.pid}-${randomBytes(3).toString('hex')}`;
const scratch = mkdtempSync(join(tmpdir(), 'larder-hostile-remote-'));
const queues: string[] = [];
const closers: (() => Promise<unknown>)[] = [];

/** The reply a larder-worker would send, as transfer.ts encodes it. */
const BLOB = '\u0000larder.blob';
const STORED_REPLY = 'larder-store:';
const encode = (value: unknown): string => serialize(value).toString('base64');
const okReply = (results: unknown[]): string => encode({ v: 1, host: 'hostile', pid: 1, ok: true, results, durationMs: 1 });

afterAll(async () => {
  await Promise.allSettled(closers.map((close) => close()));
  if (settings.redis && (await tcpReachable(settings.redis))) {
    const dropQueue = "for _, key in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', key) end return 1";
    await redisCommands(settings.redis, queues.map((name) => ['EVAL', dropQueue, '0', `bull:${name}:*`]));
  }
  rmSync(scratch, { recursive: true, force: true });
});

type BullQueue = new (queue: string, options: { connection: object }) => {
  add(name: string, data: unknown, options?: object): Promise<{ waitUntilFinished(events: object, ttl?: number): Promise<unknown> }>;
  close(): Promise<void>;
};
type BullQueueEvents = new (queue: string, options: { connection: object }) => { waitUntilReady(): Promise<unknown>; close(): Promise<void> };
type BullWorker = new (
  queue: string,
  processor: (job: { data: unknown }) => Promise<string>,
  options: { connection: object },
) => { close(force?: boolean): Promise<void>; waitUntilReady(): Promise<unknown> };

async function loadBullmq(): Promise<{ Worker: BullWorker; Queue: BullQueue; QueueEvents: BullQueueEvents }> {
  // bullmq is @larder/parallel's (optional) dependency, not the workspace root's.
  return (await import(createRequire(join(repoRoot, 'packages/parallel/package.json')).resolve('bullmq'))) as { Worker: BullWorker; Queue: BullQueue; QueueEvents: BullQueueEvents };
}

/** A BullMQ worker on a fresh queue that answers every job with `answer(jobData)`. */
async function hostileQueue(context: TestContext, topic: string, answer: (data: { call: string; firstIndex: number }) => string): Promise<{ connection: string; queue: string }> {
  const connection = (await requireService(context, 'redis', settings.redis, tcpReachable)).href;
  const queue = `larder-test-hostile-${topic}-${runId}`;
  queues.push(queue);
  const bullmq = await loadBullmq();
  const url = new URL(connection);
  const worker = new bullmq.Worker(queue, async (job) => answer(job.data as { call: string; firstIndex: number }), {
    connection: { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null },
  });
  closers.push(() => worker.close(true));
  await worker.waitUntilReady();
  return { connection, queue };
}

/** A folder store holding a value that is not the pool's: it must survive. */
async function storeWithVictim(name: string): Promise<{ folder: string; victim: Float64Array; keys: () => Promise<string[]> }> {
  const folder = join(scratch, name);
  const store = openStore(folder);
  const victim = new Float64Array([6, 6, 6]);
  await store.put('victim/keep', victim);
  const keys = async () => {
    const found: string[] = [];
    for await (const entry of store.list('')) found.push(entry.key);
    return found;
  };
  return { folder, victim, keys };
}

describe('bullmq: a reply naming store keys that are not its own', () => {
  it('a stored reply pointing outside the batch\'s keys is refused, and that key is neither read as the result nor deleted', async (context) => {
    const { folder, keys } = await storeWithVictim('stored-reply');
    const { connection, queue } = await hostileQueue(context, 'stored', () => `${STORED_REPLY}victim/keep`);
    await using pool = new Parallel({ backend: 'bullmq', connection, queue, store: folder, nJobs: 1 });
    const error = (await pool.map(t.square, [3]).catch((e: unknown) => e)) as ParallelError;
    expect(error).toBeInstanceOf(ParallelError);
    expect(error.code).toBe('LARDER_REMOTE');
    expect(error.message).toMatch(/victim\/keep/);
    expect(await keys()).toContain('victim/keep');
  });

  it('a result array reference pointing outside the batch\'s keys is refused, and that key stays', async (context) => {
    const { folder, keys } = await storeWithVictim('result-ref');
    const { connection, queue } = await hostileQueue(context, 'ref', () => okReply([{ [BLOB]: 'victim/keep' }]));
    await using pool = new Parallel({ backend: 'bullmq', connection, queue, store: folder, nJobs: 1 });
    const error = (await pool.map(t.square, [3]).catch((e: unknown) => e)) as ParallelError;
    expect(error).toBeInstanceOf(ParallelError);
    expect(error.code).toBe('LARDER_REMOTE');
    expect(await keys()).toContain('victim/keep');
  });

  it("a reference to another batch's result of the same call is refused too", async (context) => {
    const { folder, keys } = await storeWithVictim('other-batch');
    const store = openStore(folder);
    // Batch 0 answers with batch 1's key (which the hostile worker also put there).
    const { connection, queue } = await hostileQueue(context, 'other', ({ call }) => {
      void store.put(`${call}/r1-0`, new Float64Array([1]));
      return okReply([{ [BLOB]: `${call}/r1-0` }]);
    });
    await using pool = new Parallel({ backend: 'bullmq', connection, queue, store: folder, nJobs: 1, batchSize: 1 });
    const error = (await pool.map(t.square, [3]).catch((e: unknown) => e)) as ParallelError;
    expect(error).toBeInstanceOf(ParallelError);
    expect(error.code).toBe('LARDER_REMOTE');
    expect(await keys()).toContain('victim/keep');
  });
});

describe('bullmq: replies that are not a larder-worker\'s', () => {
  const cases: [string, (data: { call: string; firstIndex: number }) => string][] = [
    ['undecodable', () => 'not base64 of anything v8 wrote'],
    ['a reply of another shape', () => encode({ hello: 'world' })],
    ['more results than tasks (they would land on other tasks\' places)', () => okReply([1, 2, 3])],
    ['fewer results than tasks (holes read as undefined)', () => okReply([])],
  ];
  for (const [what, answer] of cases) {
    it(`${what}: a ParallelError LARDER_REMOTE naming the job, not a wrong result`, async (context) => {
      const { connection, queue } = await hostileQueue(context, `shape-${cases.findIndex(([w]) => w === what)}`, answer);
      await using pool = new Parallel({ backend: 'bullmq', connection, queue, nJobs: 1, batchSize: 1 });
      const error = (await pool.map(t.square, [3]).catch((e: unknown) => e)) as ParallelError;
      expect(error).toBeInstanceOf(ParallelError);
      expect(error.code).toBe('LARDER_REMOTE');
      expect(error.message).toMatch(/not a larder-worker's reply/);
    });
  }
});

/** A real larder-worker on a fresh queue (serving `stores`), and a BullMQ Queue to add forged jobs to it. */
async function forgedJobs(context: TestContext, topic: string, stores: string[] = []) {
  const connection = (await requireService(context, 'redis', settings.redis, tcpReachable)).href;
  const queue = `larder-test-hostile-${topic}-${runId}`;
  queues.push(queue);
  const worker: WorkerProcess = await startWorker({ connection, queue, concurrency: 1, stores });
  closers.push(() => worker.kill());
  const bullmq = await loadBullmq();
  const url = new URL(connection);
  const options = { connection: { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null } };
  const jobs = new bullmq.Queue(queue, options);
  const events = new bullmq.QueueEvents(queue, options);
  closers.push(() => jobs.close(), () => events.close());
  await events.waitUntilReady();
  return { jobs, events };
}

describe('larder-worker: a job someone else added to its queue', () => {
  it('a job naming node:fs, a data: URL or a file outside --root runs nothing: its reply is LARDER_TASK_IMPORT', async (context) => {
    const { jobs, events } = await forgedJobs(context, 'jobs');
    const target = join(scratch, 'pwned');
    const evil = join(scratch, 'evil.mjs');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(evil, `import { writeFileSync } from 'node:fs';\nexport function run(path) { writeFileSync(path, 'pwned'); return 1; }\n`);
    const modules: [unknown, string][] = [
      [{ url: 'node:fs' }, 'writeFileSync'],
      [{ url: `data:text/javascript,${encodeURIComponent("import { writeFileSync } from 'node:fs'; export function run(path) { writeFileSync(path, 'pwned'); return 1; }")}` }, 'run'],
      [{ url: pathToFileURL(evil).href }, 'run'],
    ];
    for (const [module, taskName] of modules) {
      const args = taskName === 'run' ? [target] : [target, 'pwned'];
      const data = { v: 1, call: `${randomBytes(6).toString('hex')}-1`, module, taskName, mode: 'spread', firstIndex: 0, payload: encode([args]), maxNbytes: null };
      // Kept once done (the queue goes at the end): waitUntilFinished looks the job up after it may have finished.
      const job = await jobs.add('batch', data);
      const reply = deserialize(Buffer.from((await job.waitUntilFinished(events, 30_000)) as string, 'base64')) as { ok: boolean; error?: { code?: string } };
      expect(reply.ok).toBe(false);
      expect(reply.error?.code).toBe('LARDER_TASK_IMPORT');
      expect(existsSync(target)).toBe(false);
    }
  });
});

describe('larder-worker: store keys a job names', () => {
  it("an argument that looks like a transfer reference to a key outside the call is refused, never read in the argument's place", async (context) => {
    const connection = (await requireService(context, 'redis', settings.redis, tcpReachable)).href;
    const queue = `larder-test-hostile-args-${runId}`;
    queues.push(queue);
    const { folder, keys } = await storeWithVictim('argument-ref');
    const worker = await startWorker({ connection, queue, concurrency: 1, stores: [folder] });
    closers.push(() => worker.kill());
    await using pool = new Parallel({ backend: 'bullmq', connection, queue, store: folder, nJobs: 1 });
    // The victim is Float64Array [6, 6, 6]: read in the argument's place, sumHalf would answer 6.
    const forged = { [BLOB]: 'victim/keep' } as unknown as Float64Array;
    const error = (await pool.run([delayed(t.sumHalf)(forged, 0)]).catch((e: unknown) => e)) as ParallelError;
    expect(error).toBeInstanceOf(ParallelError);
    expect(error.code).toBe('LARDER_REMOTE');
    expect(error.message).toMatch(/not one the pool put/);
    expect(await keys()).toContain('victim/keep');
  });
});

describe('larder-worker: the store a job names', () => {
  it('a forged job naming a store the worker was not started with (another folder, allowed/../other, a bucket) is LARDER_REMOTE and creates nothing there; a symlink to the allowed folder is that folder', async (context) => {
    const allowed = join(scratch, 'allowed-store');
    const { jobs, events } = await forgedJobs(context, 'store', [allowed]);
    const module = { url: pathToFileURL(join(repoRoot, 'packages/parallel/test/fixtures/math-tasks.ts')).href };
    /** A batch of makeArray(1000) whose result (8 KB, above maxNbytes 0) the worker would put in `store`. */
    const send = async (store: string): Promise<{ call: string; reply: { ok: boolean; results?: unknown[]; error?: { code?: string; message?: string } } }> => {
      const call = `${randomBytes(6).toString('hex')}-1`;
      const data = { v: 1, call, module, taskName: 'makeArray', mode: 'spread', firstIndex: 0, payload: encode([[1000]]), maxNbytes: 0, store };
      const job = await jobs.add('batch', data);
      return { call, reply: deserialize(Buffer.from((await job.waitUntilFinished(events, 30_000)) as string, 'base64')) as never };
    };
    const other = join(scratch, 'other-store');
    for (const store of [other, `${allowed}/../other-store`, pathToFileURL(other).href, 's3://larder-not-served/x', '']) {
      const { reply } = await send(store);
      expect(reply.ok, store).toBe(false);
      expect(reply.error?.code, store).toBe('LARDER_REMOTE');
      expect(reply.error?.message, store).toMatch(store === '' ? /not a store location/ : /start larder-worker with --store/);
      expect(existsSync(other), store).toBe(false);
    }
    expect(existsSync(allowed)).toBe(false); // nothing opened it either

    const { symlinkSync, mkdirSync } = await import('node:fs');
    mkdirSync(allowed);
    symlinkSync(allowed, join(scratch, 'link-to-allowed'));
    const { call, reply } = await send(join(scratch, 'link-to-allowed'));
    expect(reply.ok).toBe(true);
    expect(reply.results).toEqual([{ [BLOB]: `${call}/r0-0` }]);
    expect(await openStore(allowed).get(`${call}/r0-0`)).toEqual(Float64Array.from({ length: 1000 }, (_, i) => i));
  });

  it("a pool whose store its workers do not serve fails with LARDER_REMOTE saying how to allow it", async (context) => {
    const connection = (await requireService(context, 'redis', settings.redis, tcpReachable)).href;
    const queue = `larder-test-hostile-nostore-${runId}`;
    queues.push(queue);
    const worker = await startWorker({ connection, queue, concurrency: 1 });
    closers.push(() => worker.kill());
    const folder = join(scratch, 'unserved-store');
    await using pool = new Parallel({ backend: 'bullmq', connection, queue, store: folder, nJobs: 1 });
    const error = (await pool.map(t.makeArray, [300_000]).catch((e: unknown) => e)) as ParallelError;
    expect(error).toBeInstanceOf(ParallelError);
    expect(error.code).toBe('LARDER_REMOTE');
    expect(error.message).toContain(`it serves no store); it was not opened. To let the pool use it, start larder-worker with --store ${folder}`);
    expect(existsSync(folder)).toBe(false);
    // A job without a store still runs on that worker.
    await using plain = new Parallel({ backend: 'bullmq', connection, queue, nJobs: 1 });
    expect(await plain.map(t.square, [3])).toEqual([9]);
  });
});
