/**
 * Backend 'bullmq' when the pool never hears a job's "completed" or "failed"
 * event (a trimmed events stream, Redis restarted without its data, an
 * events connection that died silently): the call must not hang. The pool
 * here reaches Redis through a TCP proxy of this test that forwards
 * everything but drops every reply to the connection that reads the events
 * stream (the one that sends XREAD): a silently dead events connection, for
 * real. Jobs run in a real larder-worker connected to Redis directly.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { delayed, Parallel, ParallelError } from '@larder/parallel';
import { t } from '../../packages/parallel/test/fixtures/math-tasks.js';
import { startWorker, type WorkerProcess } from './larder-workers.js';
import { requireService, serviceSettings, tcpReachable } from './settings.js';
import { redisCommands } from './wire.js';

const settings = serviceSettings();
const runId = `${process.pid}-${randomBytes(3).toString('hex')}`;
const workers: WorkerProcess[] = [];
const queues: string[] = [];
const proxies: Server[] = [];

function queueName(topic: string): string {
  const name = `larder-test-lost-events-${topic}-${runId}`;
  queues.push(name);
  return name;
}

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.kill()));
  for (const proxy of proxies) proxy.close();
  if (settings.redis && (await tcpReachable(settings.redis))) {
    const dropQueue = "for _, key in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', key) end return 1";
    await redisCommands(settings.redis, queues.map((name) => ['EVAL', dropQueue, '0', `bull:${name}:*`]));
  }
});

/**
 * A proxy to Redis that forwards both ways, except that a connection which has sent XREAD
 * (QueueEvents reading the events stream) gets no reply from then on. Returns its URL.
 */
async function eventsBlackHole(redis: URL): Promise<{ url: string; dropped: () => number }> {
  let dropped = 0;
  const server = createServer((client: Socket) => {
    const upstream = connect({ host: redis.hostname, port: Number(redis.port) });
    let readsEvents = false;
    client.on('data', (chunk) => {
      if (!readsEvents && chunk.toString('latin1').toLowerCase().includes('xread')) readsEvents = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (readsEvents) dropped += chunk.length;
      else client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  proxies.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`, dropped: () => dropped };
}

async function redisUrl(context: TestContext): Promise<URL> {
  return requireService(context, 'redis', settings.redis, tcpReachable);
}

/** The number of jobs BullMQ still keeps for `queue` in each state. */
async function jobCounts(redis: URL, queue: string): Promise<number[]> {
  const replies = await redisCommands(redis, ['wait', 'active', 'completed', 'failed'].map((state) => [state === 'wait' ? 'LLEN' : 'ZCARD', `bull:${queue}:${state}`]));
  return replies as number[];
}

describe('bullmq: a lost event does not hang a call', () => {
  it("with its events connection silently dead, a call still resolves with the right values (the pool asks the jobs' state)", { timeout: 60_000 }, async (context) => {
    const redis = await redisUrl(context);
    const queue = queueName('dead-events');
    workers.push(await startWorker({ connection: redis.href, queue }));
    const proxy = await eventsBlackHole(redis);
    await using pool = new Parallel({ backend: 'bullmq', connection: proxy.url, queue, nJobs: 2, batchSize: 2 });
    const started = Date.now();
    expect(await pool.map(t.square, [1, 2, 3, 4, 5])).toEqual([1, 4, 9, 16, 25]);
    expect(proxy.dropped()).toBeGreaterThan(0); // the events were sent, and never reached the pool
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000); // answered by the fallback, not by an event
    // An error a task throws is reported the same way.
    const error = (await pool.run([delayed(t.throwType)()]).catch((e: unknown) => e)) as Error & { taskIndex?: number };
    expect([error.name, error.message, error.taskIndex]).toEqual(['TypeError', 'not a number', 0]);
    // Each job was removed once read: nothing is left behind in Redis.
    for (let i = 0; i < 50 && (await jobCounts(redis, queue)).some((n) => n > 0); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await jobCounts(redis, queue)).toEqual([0, 0, 0, 0]);
  });

  it('a job removed from Redis before any worker ran it is an error naming it, not a hang', { timeout: 60_000 }, async (context) => {
    const redis = await redisUrl(context);
    const queue = queueName('removed'); // no worker serves it
    await using pool = new Parallel({ backend: 'bullmq', connection: redis.href, queue, nJobs: 1 });
    const result = pool.map(t.square, [7]).catch((e: unknown) => e);
    let waiting: string[] = [];
    for (let i = 0; i < 100 && waiting.length === 0; i++) {
      waiting = (await redisCommands(redis, [['LRANGE', `bull:${queue}:wait`, '0', '-1']]))[0] as string[];
      if (waiting.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(waiting).toHaveLength(1);
    // Someone cleans the queue (its job hash and its place in the wait list): BullMQ sends no "failed" for that.
    await redisCommands(redis, [['LREM', `bull:${queue}:wait`, '0', waiting[0]!], ['DEL', `bull:${queue}:${waiting[0]}`]]);
    const error = (await result) as ParallelError;
    expect(error).toBeInstanceOf(ParallelError);
    expect([error.code, error.taskIndex]).toEqual(['LARDER_REMOTE', 0]);
    expect(error.message).toMatch(/never answered and its job .* is gone from queue/);
  });
});
