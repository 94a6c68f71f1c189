/**
 * The options of `Parallel` and `parallel()`: their documentation, their
 * defaults (one const) and their validation (once, at the boundary).
 */
import type { ResourceLimits } from 'node:worker_threads';
import { badOption, formatValue, ParallelError } from './errors.js';
import { effectiveNJobs, inWorkerThread } from './njobs.js';
import { evaluatePreDispatch } from './pre-dispatch.js';
import { resolveRemoteSettings, type RedisConnection, type RemoteSettings } from './remote-options.js';
import { isCall, isTask, type Call, type Task } from './tasks.js';
import type { BlobStore, S3Options } from '@larder/store-fs';

/** Which engine runs the tasks. */
export type BackendName = 'threads' | 'async' | 'sequential' | 'bullmq';

/** A progress callback: `done` never decreases; `total` is undefined until the input's length is known. */
export type ProgressCallback = (done: number, total: number | undefined) => void;

/** Options that apply to one call (`map`, `run`, `iterate`); they override the pool's. */
export interface CallOptions {
  /**
   * Tasks sent to a worker per message. 'auto' measures each batch and grows
   * or shrinks the size to keep batches between 2 and 20 ms of work (see README).
   * @default 'auto'
   */
  batchSize?: 'auto' | number;
  /**
   * How many tasks are dispatched ahead before results come back: 'all', a
   * number, or an arithmetic expression in nJobs such as '2*nJobs' (a fraction
   * rounds down, to at least 1). Input items are pulled only as they are dispatched.
   * @default '2*nJobs'
   */
  preDispatch?: 'all' | number | string;
  /**
   * Milliseconds a task may run, counted from its own start. A task over the
   * limit is stopped (its worker terminated and replaced) and the call
   * rejects with a TimeoutError. Undefined: no limit.
   * @default undefined
   */
  timeout?: number;
  /**
   * Typed arrays in arguments larger than this (bytes, or a string such as
   * '500K', '1M', '1MB', '1MiB', '1G', '1T', base 1024, any case) are copied
   * once per call into a SharedArrayBuffer that every task shares. null turns
   * this off.
   * @default '1M'
   */
  maxNbytes?: number | string | null;
  /**
   * joblib's verbosity: 0 silent; above 0 progress lines paced like joblib's,
   * on stderr below 50 and on stdout at 50 and above; above 10 every batch.
   * @default 0
   */
  verbose?: number;
  /**
   * true: a cli-progress bar on stderr when stderr is a terminal (silent
   * otherwise). A function: called with (done, total) as tasks complete.
   * @default false
   */
  progress?: boolean | ProgressCallback;
  /**
   * Aborting stops dispatching, cancels queued tasks, terminates running
   * ones, and rejects with an AbortError.
   * @default undefined
   */
  signal?: AbortSignal;
}

/** Options of `new Parallel()` and `parallel()`. */
export interface ParallelOptions extends CallOptions {
  /**
   * Number of workers: -1 all CPUs, -2 all but one, below -1 cpus + 1 + nJobs,
   * 1 in-process. Inside a worker task the default is 1 (no oversubscription).
   * @default -1
   */
  nJobs?: number;
  /**
   * 'threads': worker threads through piscina (tasks must come from `tasks()`).
   * 'async': any function, `nJobs` calls at a time in this thread (for I/O).
   * 'sequential': one at a time in this thread.
   * 'bullmq': batches become BullMQ jobs on `queue`, run by `larder-worker`
   * processes on any machine (see the README's "Scaling out"); `nJobs` is then
   * how many batches are in flight, best the sum of the workers' `--concurrency`.
   * @default 'threads'
   */
  backend?: BackendName;
  /**
   * backend 'bullmq': the Redis that holds the queue, as a URL
   * (`redis://host:6379/0`, `rediss://` for TLS) or ioredis options.
   * @default undefined (required with backend 'bullmq')
   */
  connection?: string | RedisConnection;
  /**
   * backend 'bullmq': the queue name the `larder-worker` processes serve
   * (letters, digits, `.`, `_`, `-`).
   * @default undefined (required with backend 'bullmq')
   */
  queue?: string;
  /**
   * backend 'bullmq': where typed arrays above `maxNbytes` travel (arguments
   * and results), as keys in the job data instead of bytes in Redis: a
   * folder every worker reaches (a shared mount), `'s3://bucket/prefix'`, or
   * a `BlobStore` (@larder/store-fs). What a call put there is removed when
   * it ends. Without it, such an array is an error (LARDER_OPTION).
   * @default undefined
   */
  store?: string | BlobStore;
  /**
   * backend 'bullmq' with an `'s3://bucket/prefix'` store: this process's S3
   * settings (store-fs's `S3Options`: endpoint, region, credentials,
   * forcePathStyle, …); unset fields come from the AWS_* environment. The
   * `larder-worker` processes read theirs from their own AWS_* environment.
   * @default undefined
   */
  s3?: S3Options;
  /**
   * A task handle (called with no arguments) or a `delayed(task)(...)` call,
   * run once in each worker before its first task.
   * @default undefined
   */
  workerInit?: Task | Call;
  /**
   * Worker heap limits (node:worker_threads ResourceLimits). A worker over
   * them dies with an out-of-memory error naming the task; the pool goes on.
   * With nJobs 1, tasks then run in one worker instead of in this thread;
   * the 'async' and 'sequential' backends refuse them (LARDER_OPTION).
   * A parent started with `--max-old-space-size` (or it in NODE_OPTIONS)
   * gives workers its heap limit without this option, and the flag, being
   * process-wide, overrides `maxOldGenerationSizeMb`.
   * @default undefined
   */
  resourceLimits?: ResourceLimits;
}

/** The defaults of every option, in one place. */
export const DEFAULTS = {
  nJobs: -1,
  backend: 'threads',
  batchSize: 'auto',
  preDispatch: '2*nJobs',
  timeout: undefined,
  maxNbytes: '1M',
  verbose: 0,
  progress: false,
} as const satisfies ParallelOptions;

/** Pool-level options after validation. */
export interface PoolSettings {
  nJobs: number;
  backend: BackendName;
  workerInit: Call | undefined;
  resourceLimits: ResourceLimits | undefined;
  /** backend 'bullmq' only. */
  remote: RemoteSettings | undefined;
}

/** Call-level options after validation. */
export interface CallSettings {
  batchSize: 'auto' | number;
  /** Tasks dispatched ahead (Infinity for 'all'). */
  preDispatch: number;
  timeout: number | undefined;
  maxNbytes: number;
  verbose: number;
  progress: boolean | ProgressCallback;
  signal: AbortSignal | undefined;
}


/**
 * An options argument: an object, or undefined for none. `where` names the
 * entry (`map()`, `new Parallel()`), so a null says which call it broke.
 */
export function optionsObject<T extends object>(where: string, options: T | undefined, known: readonly string[]): Partial<T> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) badOption(`${where}: options`, 'an object or undefined', options);
  // A name no option has (a misspelt `batchsize`, joblib's `n_jobs`) would otherwise be ignored without a word.
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const advice = Object.hasOwn(JOBLIB_NAMES, key) ? JOBLIB_NAMES[key] : `the options are ${known.join(', ')}`;
    throw new ParallelError('LARDER_OPTION', `${where}: unknown option ${key}: ${advice}`);
  }
  return options;
}

/** The longest delay Node's timers keep (2^31-1 ms); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Every {@link CallOptions} name (a record, so a new option left out is a type error). */
const CALL_OPTIONS: Record<keyof CallOptions, true> = { batchSize: true, preDispatch: true, timeout: true, maxNbytes: true, verbose: true, progress: true, signal: true };
export const CALL_OPTION_NAMES: readonly string[] = Object.keys(CALL_OPTIONS);
/** Every {@link ParallelOptions} name. */
const POOL_OPTIONS: Record<keyof ParallelOptions, true> = {
  nJobs: true, backend: true, connection: true, queue: true, store: true, s3: true, workerInit: true, resourceLimits: true, ...CALL_OPTIONS,
};
export const POOL_OPTION_NAMES: readonly string[] = Object.keys(POOL_OPTIONS);

// joblib's spellings, which would otherwise be ignored without a word.
const JOBLIB_NAMES: Record<string, string> = {
  n_jobs: 'use nJobs',
  batch_size: 'use batchSize',
  pre_dispatch: 'use preDispatch',
  max_nbytes: 'use maxNbytes',
  return_as: "use iterate() for 'generator' and iterate(calls, { ordered: false }) for 'generator_unordered'",
  require: "for require='sharedmem' pass typed arrays on a SharedArrayBuffer",
  prefer: "choose backend: 'threads' or 'async'",
  mmap_mode: 'not needed: large arrays go to workers through shared memory',
  temp_folder: 'not needed: large arrays go to workers through shared memory',
  initializer: 'use workerInit',
};

/** The task argument of `map()` / `parallel()`: a function or a task handle (which is a function). */
export function checkTask(where: string, task: unknown): void {
  if (typeof task !== 'function') {
    throw new ParallelError('LARDER_OPTION', `${where} needs a function or a task handle from tasks() as its first argument, got ${formatValue(task)}`);
  }
}

/** Validates the pool-level options. */
export function resolvePoolSettings(options: ParallelOptions): PoolSettings {
  const backend = options.backend ?? DEFAULTS.backend;
  if (!['threads', 'async', 'sequential', 'bullmq'].includes(backend)) badOption('backend', "'threads', 'async', 'sequential' or 'bullmq'", backend);
  // joblib: inside a worker, n_jobs defaults to 1 so nested calls do not oversubscribe.
  let nJobs = options.nJobs === undefined && inWorkerThread() ? 1 : effectiveNJobs(options.nJobs ?? DEFAULTS.nJobs);
  if (backend === 'sequential') nJobs = 1;
  let workerInit: Call | undefined;
  if (options.workerInit !== undefined) {
    if (isTask(options.workerInit)) workerInit = { task: options.workerInit, args: [] };
    else if (isCall(options.workerInit) && isTask(options.workerInit.task)) workerInit = options.workerInit;
    else badOption('workerInit', 'a task handle from tasks() or a delayed(task)(...args) call', options.workerInit);
  }
  const resourceLimits = checkResourceLimits(options.resourceLimits, backend);
  const remote = resolveRemoteSettings(options, backend);
  if (remote && workerInit) badOption('workerInit', "undefined with backend 'bullmq' (larder-worker processes serve many callers; run setup at the top of the task module instead)", options.workerInit);
  return { nJobs, backend, workerInit, resourceLimits, remote };
}

const LIMIT_KEYS = ['maxYoungGenerationSizeMb', 'maxOldGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;

// Limits bound a worker thread's heap; an in-process backend has none to bound, and ignoring them silently would let a task exhaust the caller.
function checkResourceLimits(limits: unknown, backend: BackendName): ResourceLimits | undefined {
  if (limits === undefined) return undefined;
  if (limits === null || typeof limits !== 'object' || Array.isArray(limits)) return badOption('resourceLimits', `an object such as { maxOldGenerationSizeMb: 512 }`, limits);
  for (const [key, value] of Object.entries(limits)) {
    if (!(LIMIT_KEYS as readonly string[]).includes(key)) badOption('resourceLimits', `an object with keys ${LIMIT_KEYS.join(', ')} (got key "${key}")`, limits);
    if (value !== undefined && !(typeof value === 'number' && value > 0 && Number.isFinite(value))) badOption(`resourceLimits.${key}`, 'a positive number of megabytes', value);
  }
  if (backend !== 'threads') {
    const where = backend === 'bullmq' ? 'in larder-worker processes, whose own flags (node --max-old-space-size) bound them' : 'in this thread, where no limit can apply';
    throw new ParallelError('LARDER_OPTION', `resourceLimits bound worker threads, but backend '${backend}' runs tasks ${where}. Use backend: 'threads' (with nJobs 1, tasks then run in one worker).`);
  }
  return limits as ResourceLimits;
}

/** Validates the call-level options (the call's own over the pool's). */
export function resolveCallSettings(options: CallOptions, nJobs: number): CallSettings {
  const batchSize = options.batchSize ?? DEFAULTS.batchSize;
  if (batchSize !== 'auto' && !(Number.isInteger(batchSize) && batchSize >= 1)) badOption('batchSize', "'auto' or a positive integer", batchSize);
  const preDispatch = options.preDispatch ?? DEFAULTS.preDispatch;
  let preDispatchTasks: number;
  if (preDispatch === 'all') preDispatchTasks = Infinity;
  else if (typeof preDispatch === 'number') {
    if (!(Number.isInteger(preDispatch) && preDispatch >= 1)) badOption('preDispatch', "'all', a positive integer or an expression such as '2*nJobs'", preDispatch);
    preDispatchTasks = preDispatch;
  } else if (typeof preDispatch === 'string') preDispatchTasks = evaluatePreDispatch(preDispatch, nJobs);
  else preDispatchTasks = badOption('preDispatch', "'all', a positive integer or an expression such as '2*nJobs'", preDispatch);
  const timeout = options.timeout ?? DEFAULTS.timeout;
  // Node fires a timer longer than 2^31-1 ms after 1 ms: such a timeout stopped every task at once.
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && timeout <= MAX_TIMER_MS)) badOption('timeout', `a positive number of milliseconds up to ${MAX_TIMER_MS} (about 24.8 days; leave it unset for none)`, timeout);
  const maxNbytes = options.maxNbytes === undefined ? DEFAULTS.maxNbytes : options.maxNbytes;
  const verbose = options.verbose ?? DEFAULTS.verbose;
  if (typeof verbose !== 'number' || !(verbose >= 0)) badOption('verbose', 'a number ≥ 0', verbose);
  const progress = options.progress ?? DEFAULTS.progress;
  if (typeof progress !== 'boolean' && typeof progress !== 'function') badOption('progress', 'a boolean or a function (done, total) => void', progress);
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) badOption('signal', 'an AbortSignal', signal);
  return {
    batchSize,
    preDispatch: preDispatchTasks,
    timeout,
    maxNbytes: maxNbytes === null ? Infinity : parseBytes('maxNbytes', maxNbytes),
    verbose,
    progress,
    signal,
  };
}

// The grammar of @larder/memory's parseSize (units.ts), copied because
// parallel depends on neither package: base 1024, any case, 'K', 'KB' and
// 'KiB' alike, up to 'T'.
const SIZE_BYTES: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4,
};

/** '1M', '1MB', '1MiB' → 1048576 (base 1024, like joblib's memstr_to_bytes); numbers pass through. */
function parseBytes(name: string, value: number | string): number {
  if (typeof value === 'number') {
    if (value >= 0 && Number.isFinite(value)) return value;
    return badOption(name, 'a byte count ≥ 0, a string such as \'1M\', or null', value);
  }
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value) : null;
  const unit = match ? SIZE_BYTES[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) return badOption(name, "a byte count ≥ 0, a string such as '1M', or null", value);
  return Math.floor(Number(match[1]) * unit);
}
