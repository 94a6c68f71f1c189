/**
 * The 'bullmq' backend: each batch is one BullMQ job on the pool's queue,
 * run by a `larder-worker` process on any machine (remote-worker.ts). The
 * job's id is chosen here and its result listener registered before the job
 * is added: under load a "completed" event can arrive before `add` replies.
 * An event that never comes (lost: bullmq-watch.ts) does not hang the call:
 * a silent batch asks its job's state. So finished jobs stay in Redis until
 * the pool has read them (then it removes them; KEEP_FINISHED_S bounds what
 * a pool that died leaves behind).
 * Arguments and results travel encoded (transfer.ts); typed arrays above
 * `maxNbytes` through the pool's blob store, as keys.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BlobStore } from '@larder/store-fs';
import { cancelChannel, loadBullmq } from '../bullmq-driver.js';
import { isDeepTape } from '../deep-values.js';
import { entryScriptError, isEntryScript } from '../entry-script.js';
import { AbortError, ParallelError, taskLabel } from '../errors.js';
import { describeConnection, type RemoteSettings } from '../remote-options.js';
import { moduleAddress, PROTOCOL_VERSION, rebuildRemoteError, STORED_REPLY, transferKeys, type JobData, type JobReply } from '../remote-protocol.js';
import { prepareArg, prepareArgs } from '../share-args.js';
import { isTask, type AnyFunction, type Task } from '../tasks.js';
import { decodeValue, encodeValue, externalize, internalize, largeArrays } from '../transfer.js';
import type { Backend, Batch, BatchContext, BatchOutcome } from './backend.js';
import { JobWatch, type WatchedJob } from './bullmq-watch.js';

/** How long a pool waits for Redis before its first batch fails. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * A finished job is kept this long at most (BullMQ removes older ones as later jobs finish):
 * the pool removes each once it has its answer, so only a pool that died leaves them.
 */
const KEEP_FINISHED_S = 3_600;

interface Connection {
  queue: Queue;
  events: QueueEvents;
  watch: JobWatch;
}

/** A job added and not yet answered. */
type PendingJob = WatchedJob;

/** What one call (map, run, iterate) keeps here. */
interface CallState {
  id: string;
  /** Jobs of the call not yet answered: cancelled when the call stops early. */
  jobs: Set<string>;
  /** Arguments put in the store, by array: one put per array per call, however many tasks share it. */
  puts: Map<ArrayBufferView, Promise<string>>;
  /** The remote cancel, once sent. */
  cancelling?: Promise<void>;
}

/** Runs batches as BullMQ jobs served by larder-worker processes. */
export class BullmqBackend implements Backend {
  readonly name = 'bullmq';
  readonly batches = true;
  readonly maxInFlight = Infinity;
  // A job costs milliseconds (Redis round trips, a worker's poll), not a
  // thread message's microseconds: batches aim at ~200 ms of work.
  readonly batchWindow = { min: 50, max: 1_000, target: 200 };
  readonly #settings: RemoteSettings;
  readonly #pending = new Map<string, PendingJob>();
  readonly #calls = new WeakMap<BatchContext, CallState>();
  /** Prefix of this pool's job ids and call ids: unique across machines and pools. */
  readonly #id = `${randomBytes(6).toString('hex')}`;
  #connection: Promise<Connection> | undefined;
  #counter = 0;

  constructor(
    readonly workers: number,
    settings: RemoteSettings,
  ) {
    this.#settings = settings;
  }

  check(task: AnyFunction, where: string): void {
    if (!isTask(task)) {
      throw new ParallelError(
        'LARDER_NOT_A_TASK',
        `${where}: ${task.name ? `function ${task.name}` : 'an anonymous function'} is not a task handle; backend 'bullmq' sends tasks to larder-worker processes by module and name. ` +
          `Export it from a module through tasks(): \`export const { ${task.name || 'myTask'} } = tasks(import.meta.url, { ${task.name || 'myTask'} })\`.`,
      );
    }
    if (isEntryScript(task.moduleUrl)) throw entryScriptError(task.moduleUrl, task.taskName);
  }

  async run(batch: Batch, context: BatchContext): Promise<BatchOutcome> {
    const task = batch.task as Task;
    const { queue, watch } = await this.#connect();
    if (context.signal.aborted) throw new AbortError(context.signal.reason);
    const call = this.#callState(context);
    let deep = false;
    const payload = batch.payload.map((input, i) => {
      // Checked as for threads (functions, class instances, Proxies refused by path); a value too deep comes flattened.
      const prepared = batch.mode === 'single' ? prepareArg(input, batch.firstIndex + i, 0, Infinity, new Map()) : prepareArgs(input as unknown[], batch.firstIndex + i, Infinity, new Map());
      if (!deep && prepared !== input) deep = batch.mode === 'single' ? isDeepTape(prepared) : (prepared as unknown[]).some(isDeepTape);
      return prepared;
    });
    const store = this.#settings.store;
    if (!store && largeArrays(payload, context.maxNbytes).length > 0) throw this.#noStore(batch, context.maxNbytes);
    const external = store ? await externalize(payload, context.maxNbytes, (array) => this.#putArgument(store, call, array)) : payload;
    const data: JobData = {
      v: PROTOCOL_VERSION,
      call: call.id,
      module: moduleAddress(task.moduleUrl),
      taskName: task.taskName,
      mode: batch.mode,
      firstIndex: batch.firstIndex,
      payload: encodeValue(external),
      maxNbytes: store && Number.isFinite(context.maxNbytes) ? context.maxNbytes : null,
    };
    if (deep) data.deep = true;
    if (context.timeout !== undefined) data.timeout = context.timeout;
    if (this.#settings.storeLocation !== undefined) data.store = this.#settings.storeLocation;

    const jobId = `${call.id}-${batch.firstIndex}`;
    const answer = new Promise<unknown>((resolve, reject) => this.#pending.set(jobId, { resolve, reject }));
    // Awaited only once the job is added: a stop before then must not count as an unhandled rejection.
    answer.catch(() => {});
    call.jobs.add(jobId);
    const unsubscribe = context.onStop(() => this.#pending.get(jobId)?.reject(new AbortError(context.signal.reason)));
    try {
      // The listener exists before the job does (see the top of this file).
      await queue.add('batch', data, { jobId, attempts: 1, removeOnComplete: { age: KEEP_FINISHED_S }, removeOnFail: { age: KEEP_FINISHED_S } });
      watch.added(jobId);
      const returned = await answer;
      if (typeof returned !== 'string') throw badReply(jobId, `its return value is ${typeof returned}, not an encoded reply`);
      const own = (key: string) => transferKeys.isResult(call.id, batch.firstIndex, key);
      const encoded = store && returned.startsWith(STORED_REPLY) ? await this.#takeResult(store, returned.slice(STORED_REPLY.length), own, jobId) : returned;
      const reply = decodeReply(encoded, jobId, batch.payload.length);
      if (reply.output) context.writeOutput(reply.output);
      const where = `larder-worker on ${reply.host}, pid ${reply.pid}`;
      if (!reply.ok) throw rebuildRemoteError(reply.error, batch.firstIndex, task.taskName, context.timeout, where);
      const results = store ? ((await internalize(reply.results, (key) => this.#takeResult(store, key, own, jobId))) as unknown[]) : reply.results;
      return { results, durationMs: reply.durationMs };
    } catch (error) {
      if (context.signal.aborted) throw new AbortError(context.signal.reason);
      throw error;
    } finally {
      unsubscribe();
      this.#pending.delete(jobId);
      call.jobs.delete(jobId);
      // Answered (or abandoned): the job is of no more use. A stopped call's running job is removed by #cancel.
      if (!context.signal.aborted) void queue.remove(jobId).catch(() => undefined);
    }
  }

  async endCall(context: BatchContext): Promise<void> {
    const call = this.#calls.get(context);
    if (!call) return;
    this.#calls.delete(context);
    await call.cancelling;
    if (call.puts.size === 0 || !this.#settings.store) return;
    try {
      await this.#settings.store.removePrefix(call.id);
    } catch (error) {
      process.emitWarning(`[larder/parallel] the arrays this call put in ${this.#settings.store.description} under ${call.id}/ could not be removed: ${String(error)}`, { code: 'LARDER_REMOTE' });
    }
  }

  async close(): Promise<void> {
    const connecting = this.#connection;
    this.#connection = undefined;
    const connection = await connecting?.catch(() => undefined);
    for (const pending of this.#pending.values()) pending.reject(new ParallelError('LARDER_CLOSED', 'the pool was closed while its jobs ran'));
    connection?.watch.close();
    if (connection) await Promise.allSettled([connection.events.close(), connection.queue.close()]);
  }

  #connect(): Promise<Connection> {
    const connecting = (this.#connection ??= this.#open());
    // A failed connection is not kept: the next call tries again.
    connecting.catch(() => {
      if (this.#connection === connecting) this.#connection = undefined;
    });
    return connecting;
  }

  async #open(): Promise<Connection> {
    const { Job, Queue, QueueEvents } = await loadBullmq();
    const { connection, queue: name } = this.#settings;
    const queue = new Queue(name, { connection });
    let events: QueueEvents | undefined;
    // Connection trouble is reported once per call, through the timeout below; the client keeps reconnecting meanwhile.
    queue.on('error', () => {});
    try {
      await withTimeout(queue.waitUntilReady(), `the queue's Redis at ${describeConnection(connection)} did not answer`);
      // Events are read from the stream's current end, fixed now: a QueueEvents
      // started at '$' reads from wherever the stream is when its first read
      // runs, and a job finished before that read would never be heard of.
      const client = (await queue.client) as unknown as Redis;
      const last = (await client.xrevrange(queue.keys.events!, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
      events = new QueueEvents(name, { connection, lastEventId: last });
      events.on('error', () => {});
      events.on('completed', ({ jobId, returnvalue }) => this.#pending.get(jobId)?.resolve(returnvalue));
      events.on('failed', ({ jobId, failedReason }) => {
        const pending = this.#pending.get(jobId);
        if (pending) pending.reject(this.#jobFailure(jobId, failedReason));
      });
      await withTimeout(events.waitUntilReady(), `the queue's Redis at ${describeConnection(connection)} did not answer`);
      const watch = new JobWatch({ queue, Job, pending: this.#pending, failure: (jobId, reason) => this.#jobFailure(jobId, reason), gone: (jobId) => this.#jobGone(jobId) });
      return { queue, events, watch };
    } catch (error) {
      await Promise.allSettled([queue.close(), events?.close()]);
      throw error;
    }
  }

  #callState(context: BatchContext): CallState {
    let call = this.#calls.get(context);
    if (call) return call;
    call = { id: `${this.#id}-${++this.#counter}`, jobs: new Set(), puts: new Map() };
    this.#calls.set(context, call);
    const state = call;
    context.onStop(() => {
      if (state.jobs.size > 0) state.cancelling = this.#cancel(state);
    });
    return call;
  }

  /** Removes the call's waiting jobs and asks workers to stop its running ones. */
  async #cancel(call: CallState): Promise<void> {
    const connection = await this.#connection?.catch(() => undefined);
    if (!connection) return;
    const jobs = [...call.jobs];
    const client = (await connection.queue.client) as unknown as Redis;
    await Promise.allSettled([client.publish(cancelChannel(this.#settings.queue), call.id), ...jobs.map((jobId) => connection.queue.remove(jobId))]);
  }

  #putArgument(store: BlobStore, call: CallState, array: ArrayBufferView): Promise<string> {
    const known = call.puts.get(array);
    if (known) return known;
    const name = transferKeys.argument(call.id, call.puts.size);
    const key = store.put(name, array).then(() => name);
    call.puts.set(array, key);
    return key;
  }

  /**
   * A result array (or a whole reply) a worker left in the store: read, then removed (nothing
   * else reads it). Only keys this batch's worker writes are taken: a reply comes through
   * Redis, which other programs can write, and must not make the pool read, return or delete
   * anything else in the store (another call's arrays, a cache sharing it, the user's values).
   */
  async #takeResult(store: BlobStore, key: string, own: (key: string) => boolean, jobId: string): Promise<unknown> {
    if (!own(key)) throw badReply(jobId, `it names the store key ${JSON.stringify(key)}, which is not one its worker writes for this batch; that key was left alone`);
    const value = await store.get(key);
    if (value === undefined) throw new ParallelError('LARDER_REMOTE', `a worker's result ${key} is missing from ${store.description}; was the store cleared during the call?`);
    await store.delete(key);
    return value;
  }

  #jobFailure(jobId: string, reason: string): ParallelError {
    const firstIndex = Number(jobId.slice(jobId.lastIndexOf('-') + 1));
    const stalled = /stalled/i.test(reason);
    const what = stalled
      ? `its larder-worker stopped answering twice while running it (killed, or its machine lost) and BullMQ gave up on it (${reason})`
      : `its larder-worker failed it outside the tasks (${reason})`;
    return new ParallelError('LARDER_WORKER_EXIT', `${taskLabel(firstIndex)}: the batch starting at it failed: ${what}.`, { taskIndex: firstIndex });
  }

  #jobGone(jobId: string): ParallelError {
    const firstIndex = Number(jobId.slice(jobId.lastIndexOf('-') + 1));
    return new ParallelError(
      'LARDER_REMOTE',
      `${taskLabel(firstIndex)}: the batch starting at it was never answered and its job ${jobId} is gone from queue ${this.#settings.queue} (removed or cleaned by someone, or Redis restarted without its data); its results are lost.`,
      { taskIndex: firstIndex },
    );
  }

  #noStore(batch: Batch, maxNbytes: number): ParallelError {
    return new ParallelError(
      'LARDER_OPTION',
      `${taskLabel(batch.firstIndex)}: an argument holds a typed array above maxNbytes (${maxNbytes} bytes), which backend 'bullmq' sends through the pool's store, and the pool has none. ` +
        `Give it a store every worker reaches (store: '/shared/folder' or 's3://bucket/prefix'), or maxNbytes: null to send arrays in Redis job data (slow, and Redis refuses values over 512 MB).`,
      { taskIndex: batch.firstIndex },
    );
  }
}

/** A reply the pool cannot use: not what a larder-worker sends. */
function badReply(jobId: string, why: string): ParallelError {
  return new ParallelError('LARDER_REMOTE', `the reply to job ${jobId} is not a larder-worker's reply: ${why}. Is something other than larder-worker serving this queue, or writing to its Redis?`);
}

/** A reply decoded and checked: of this protocol, and when ok with one result per task of the batch (more would land on other tasks' places, fewer leave holes). */
function decodeReply(encoded: unknown, jobId: string, tasks: number): JobReply {
  let reply: unknown;
  try {
    if (typeof encoded !== 'string') throw new TypeError(`a ${typeof encoded}`);
    reply = decodeValue(encoded);
  } catch (error) {
    throw badReply(jobId, `it cannot be decoded (${(error as Error)?.message ?? String(error)})`);
  }
  const shaped = reply as Partial<JobReply> | null;
  if (typeof shaped !== 'object' || shaped === null || shaped.v !== PROTOCOL_VERSION || (shaped.ok === true && !Array.isArray(shaped.results))) {
    throw badReply(jobId, 'it has not the shape of a reply of this protocol version');
  }
  if (shaped.ok === true && shaped.results!.length !== tasks) throw badReply(jobId, `it has ${shaped.results!.length} results for a batch of ${tasks} tasks`);
  return shaped as JobReply;
}

async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ParallelError('LARDER_REMOTE', `${what} within ${CONNECT_TIMEOUT_MS / 1000} s (from ${hostname()}); is it running and reachable?`)), CONNECT_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
