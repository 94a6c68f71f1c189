/**
 * The worker side of backend 'bullmq', run by the `larder-worker` bin: a
 * BullMQ Worker takes batch jobs from the queue and runs each batch on a
 * pool of worker threads (the threads backend, as a local pool would), so
 * the tasks never hold this process's event loop and BullMQ keeps renewing
 * the job locks during CPU-bound tasks (a lock that lapses makes BullMQ run
 * the job a second time, as "stalled"). Timeouts, output capture, task
 * errors and the worker lifecycle hooks are the threads backend's own.
 */
import { hostname } from 'node:os';
import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BlobStore } from '@larder/store-fs';
import type { BatchContext } from './backends/backend.js';
import { ThreadsBackend } from './backends/threads.js';
import { cancelChannel, loadBullmq } from './bullmq-driver.js';
import { decodeDeep, isDeepTape } from './deep-values.js';
import { AbortError, ParallelError } from './errors.js';
import { cpuCount } from './njobs.js';
import { checkQueueName, describeConnection, redisConnection, type RedisConnection } from './remote-options.js';
import { INLINE_REPLY_CHARS, isCallId, PROTOCOL_VERSION, remoteError, resolveModule, STORED_REPLY, transferKeys, type JobData, type JobReply, type RemoteError } from './remote-protocol.js';
import { closeFiles, fileShares } from './share-files.js';
import { StoreAllowlist } from './store-allowlist.js';
import type { TaskOutput } from './task-output.js';
import type { Task } from './tasks.js';
import { decodeValue, encodeValue, externalize, internalize } from './transfer.js';

/** What `larder-worker` is started with. */
export interface RemoteWorkerOptions {
  /** The queue's Redis: a URL or ioredis options. */
  connection: string | RedisConnection;
  /** The queue to serve. */
  queue: string;
  /** Batches run at once, each on its own worker thread. Default: the CPU count. */
  concurrency?: number;
  /**
   * The stores jobs may use (`--store`): folder paths and 's3://bucket/prefix'
   * locations. A job naming any other store fails with LARDER_REMOTE and
   * nothing is opened: a job is data anyone able to write the queue's Redis
   * can forge, and the worker writes to its store.
   * @default [] (jobs that need a store fail; jobs without one run)
   */
  stores?: readonly string[];
  /** Where task modules resolve (their path relative to the caller's working directory, or their package in node_modules). Default: the working directory. */
  root?: string;
  /** BullMQ's job lock, ms: a worker silent this long (killed) has its job run again elsewhere. Default 30 000. */
  lockDuration?: number;
  /** How often this worker looks for jobs whose worker went silent, ms. Default 30 000. */
  stalledInterval?: number;
  /** Where status lines go. Default: stderr. */
  log?: (line: string) => void;
}

/** Cancel messages remembered, so a batch of a stopped call that starts late is dropped too. */
const REMEMBERED_CANCELS = 1_000;

/** One larder-worker: serves `queue` until closed. */
export class RemoteWorker {
  readonly #threads: ThreadsBackend;
  readonly #root: string;
  readonly #stores: StoreAllowlist;
  /** Running batches, by call: a cancel message stops them. */
  readonly #running = new Map<string, Set<AbortController>>();
  readonly #cancelled = new Set<string>();
  #worker: Worker | undefined;
  #unsubscribe: (() => Promise<unknown>) | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    readonly options: Required<Omit<RemoteWorkerOptions, 'connection' | 'stores'>> & { connection: RedisConnection },
    stores: StoreAllowlist,
  ) {
    this.#root = options.root;
    this.#stores = stores;
    this.#threads = new ThreadsBackend(options.concurrency, undefined, undefined);
  }

  /** Connects to the queue and starts taking jobs. */
  static async start(options: RemoteWorkerOptions): Promise<RemoteWorker> {
    const connection = redisConnection('--connection', options.connection);
    const queue = checkQueueName('--queue', options.queue);
    const concurrency = options.concurrency ?? cpuCount();
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new ParallelError('LARDER_OPTION', `--concurrency must be a positive integer, got ${String(concurrency)}`);
    const stores = new StoreAllowlist('--store', options.stores ?? []);
    const { Worker } = await loadBullmq();
    const self = new RemoteWorker({
      connection,
      queue,
      concurrency,
      root: options.root ?? process.cwd(),
      lockDuration: options.lockDuration ?? 30_000,
      stalledInterval: options.stalledInterval ?? 30_000,
      log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
    }, stores);
    const worker = new Worker(queue, (job: Job) => self.#process(job), {
      connection,
      concurrency,
      lockDuration: self.options.lockDuration,
      stalledInterval: self.options.stalledInterval,
      // A batch whose worker died is run once more elsewhere, then reported to the caller (LARDER_WORKER_EXIT).
      maxStalledCount: 1,
    });
    self.#worker = worker;
    worker.on('error', (error) => self.options.log(`larder-worker: ${error.message}`));
    try {
      await worker.waitUntilReady();
      const subscriber = ((await worker.client) as unknown as Redis).duplicate();
      subscriber.on('error', () => {});
      subscriber.on('message', (_channel: string, call: string) => self.#cancel(call));
      await subscriber.subscribe(cancelChannel(queue));
      self.#unsubscribe = () => subscriber.quit();
    } catch (error) {
      await self.close();
      throw error;
    }
    self.options.log(`larder-worker ${hostname()} pid ${process.pid}: serving queue ${queue} at ${describeConnection(connection)}, ${concurrency} thread${concurrency === 1 ? '' : 's'}, modules under ${self.#root}, ${stores.locations.length === 0 ? 'no store (jobs that need one fail: --store LOCATION)' : `stores ${stores.locations.join(', ')}`}`);
    return self;
  }

  /**
   * Stops taking jobs, lets the running batches finish, runs the threads'
   * teardown hooks (a cached function's pending index writes), disconnects.
   * `force`: running batches are left to BullMQ, which gives them to another
   * worker once their lock lapses.
   */
  close(force = false): Promise<void> {
    return (this.#closing ??= (async () => {
      await this.#worker?.close(force);
      await this.#unsubscribe?.().catch(() => {});
      await this.#threads.close();
    })());
  }

  async #process(job: Job): Promise<string> {
    const data = job.data as JobData;
    if (data?.v !== PROTOCOL_VERSION) {
      // Failing the job (not replying): the caller may not read this version's replies either.
      throw new Error(`job ${job.id} speaks larder protocol ${String(data?.v)}, this worker ${PROTOCOL_VERSION}: run the same @larder/parallel version on both sides`);
    }
    if (!isCallId(data.call) || !Number.isSafeInteger(data.firstIndex) || data.firstIndex < 0) {
      throw new Error(`job ${job.id} is not a larder pool's job (its call ${JSON.stringify(data.call)} or first task index ${JSON.stringify(data.firstIndex)} is malformed)`);
    }
    const stop = new AbortController();
    let running = this.#running.get(data.call);
    if (!running) this.#running.set(data.call, (running = new Set()));
    running.add(stop);
    if (this.#cancelled.has(data.call)) stop.abort(new AbortError('the call was stopped'));
    const output: TaskOutput[] = [];
    let store: BlobStore | undefined;
    const reply = async (body: { ok: true; results: unknown[]; durationMs: number } | { ok: false; error: RemoteError }): Promise<string> => {
      const full = { v: PROTOCOL_VERSION, host: hostname(), pid: process.pid, ...body } as JobReply;
      if (output.length > 0) full.output = output;
      const encoded = encodeValue(full);
      if (store === undefined || encoded.length <= INLINE_REPLY_CHARS) return encoded;
      const key = transferKeys.reply(data.call, data.firstIndex);
      await store.put(key, encoded);
      return `${STORED_REPLY}${key}`;
    };
    try {
      if (stop.signal.aborted) throw stop.signal.reason;
      const moduleUrl = resolveModule(data.module, this.#root);
      store = data.store === undefined ? undefined : this.#stores.open(data.store);
      let payload = decodeValue(data.payload) as unknown[];
      const from = store;
      if (from) payload = (await internalize(payload, (key) => readArgument(from, data.call, key))) as unknown[];
      if (data.deep) payload = payload.map((input) => (data.mode === 'single' ? undeep(input) : (input as unknown[]).map(undeep)));
      const task = Object.assign(() => {}, { moduleUrl, taskName: data.taskName }) as unknown as Task;
      const context = batchContext(stop.signal, data, output);
      const outcome = await this.#threads.run({ task, mode: data.mode, payload, firstIndex: data.firstIndex }, context).finally(() => closeFiles(context.fileShares));
      let results = outcome.results;
      // A stopped call reads nothing more: its results are not put in the store, where nobody would remove them.
      if (stop.signal.aborted) throw new AbortError(stop.signal.reason);
      if (from && data.maxNbytes !== null) {
        let count = 0;
        results = (await externalize(results, data.maxNbytes, async (array) => {
          const key = transferKeys.result(data.call, data.firstIndex, count++);
          await from.put(key, array);
          return key;
        })) as unknown[];
      }
      return await reply({ ok: true, results, durationMs: outcome.durationMs });
    } catch (error) {
      store = undefined; // an error's reply is small, and the store may be what failed
      return reply({ ok: false, error: remoteError(error) });
    } finally {
      running.delete(stop);
      if (running.size === 0) this.#running.delete(data.call);
    }
  }

  #cancel(call: string): void {
    this.#cancelled.add(call);
    if (this.#cancelled.size > REMEMBERED_CANCELS) this.#cancelled.delete(this.#cancelled.values().next().value!);
    for (const stop of this.#running.get(call) ?? []) stop.abort(new AbortError('the call was stopped'));
  }
}

/** The context the threads backend runs one job's batch under. */
function batchContext(signal: AbortSignal, data: JobData, output: TaskOutput[]): BatchContext {
  return {
    signal,
    onStop(listener) {
      if (signal.aborted) {
        listener();
        return () => {};
      }
      signal.addEventListener('abort', listener, { once: true });
      return () => signal.removeEventListener('abort', listener);
    },
    timeout: data.timeout,
    fileShares: fileShares(),
    // Arrays read from the store above this size go to the threads through shared memory, read-only as in a local pool.
    maxNbytes: data.maxNbytes ?? 1 << 20,
    sharedCopies: new Map(),
    writeOutput: (written) => void output.push(...written),
  };
}

/** An argument the pool put in the store: only a key of this job's call (a job is data anyone able to write the queue's Redis can forge). */
async function readArgument(store: BlobStore, call: string, key: string): Promise<unknown> {
  if (!transferKeys.isArgument(call, key)) {
    throw new ParallelError('LARDER_REMOTE', `an argument names the store key ${JSON.stringify(key)}, which is not one the pool put for this call (${call}/a<n>); it was not read`);
  }
  const value = await store.get(key);
  if (value === undefined) throw new ParallelError('LARDER_REMOTE', `argument ${key} is missing from ${store.description}: the call that put it ended, or this worker sees another store at that location`);
  return value;
}

function undeep(value: unknown): unknown {
  return isDeepTape(value) ? decodeDeep(value) : value;
}
