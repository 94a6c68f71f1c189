/**
 * The 'threads' backend: batches run in piscina worker threads. The worker
 * file is found next to this module (src under vitest/tsx, dist when
 * installed). Each batch gets a small shared progress block so the caller
 * knows which task is running and since when: that drives the per-task
 * timeout and names the task when a worker dies.
 */
import { createRequire } from 'node:module';
import { threadId, type ResourceLimits } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { decodeDeep, isDeepTape } from '../deep-values.js';
import { entryScriptError, entryScriptPath, isEntryScript } from '../entry-script.js';
import { AbortError, describeValue, ParallelError, rebuildTaskError, taskLabel, TimeoutError } from '../errors.js';
import { BATCH_PHASE, isTypeScriptUrl, PHASE_CANCELLED, PHASE_QUEUED, PHASE_RUNNING, PROGRESS_BYTES, RUNNING_INDEX, START_TIME_OFFSET, type BatchReply, type BatchRequest, type FailureKind } from '../protocol.js';
import { prepareArg, prepareArgs } from '../share-args.js';
import { loadStoreFs, restoreFiles, resultsMapped } from '../share-files.js';
import type { SharedCopy } from '../share-guard.js';
import { isTask, type AnyFunction, type Call, type Task } from '../tasks.js';
import { teardownWorkers } from '../teardown.js';
import { TEARDOWN_BUDGET_MS } from '../worker-hooks.js';
import { isDenoOrBun, startWithAcceptedFlags, workerExecArgv, workerTypeScript, type WorkerTypeScript } from '../worker-flags.js';
import { canStripForWorkers, stripForWorkers, type StrippedSources } from '../worker-typescript.js';
import type { Backend, Batch, BatchContext, BatchOutcome } from './backend.js';

const WORKER_ENTRY = new URL('../worker-entry.js', import.meta.url);

/**
 * piscina, loaded by the first pool: every worker thread evaluates this
 * package (a task module imports `tasks` from it), and none starts a pool.
 */
function loadPiscina(): typeof Piscina {
  return (createRequire(import.meta.url)('piscina') as typeof import('piscina')).Piscina;
}

/** What worker-entry.js reads from `workerData`. */
interface WorkerData {
  typescript: WorkerTypeScript;
}

/** Runs batches on `workers` piscina threads. */
export class ThreadsBackend implements Backend {
  readonly name = 'threads';
  readonly batches = true;
  readonly maxInFlight = Infinity;
  readonly #pool: Piscina;
  readonly #init: BatchRequest['init'];
  readonly #teardownChannel = `larder/parallel/${process.pid}/${threadId}/${poolCounter++}`;
  /** Threads that reported teardown hooks in a batch reply: close() asks them to run them. */
  readonly #listening = new Set<number>();
  /** Task modules stripped of types for the workers, by module URL; undefined when workers strip nothing themselves or cannot be spared it. */
  readonly #stripped: Map<string, StrippedSources> | undefined;
  /** Threads that have imported each task module (they no longer need its stripped source). */
  readonly #imported = new Map<string, Set<number>>();

  constructor(
    readonly workers: number,
    workerInit: Call | undefined,
    resourceLimits: ResourceLimits | undefined,
  ) {
    // Checked before any thread starts: a pool left running would keep the process alive.
    if (workerInit) {
      const task = workerInit.task as Task;
      if (isEntryScript(task.moduleUrl)) throw entryScriptError(task.moduleUrl, task.taskName);
      const args = prepareArgs(workerInit.args, -1, Infinity, new Map());
      this.#init = { moduleUrl: task.moduleUrl, taskName: task.taskName, args, key: `${task.moduleUrl}#${task.taskName}#${initCounter++}` };
    }
    const typescript = workerTypeScript();
    if (typescript === 'native' && canStripForWorkers()) this.#stripped = new Map();
    // Deno and Bun take no Node flags (Bun's execArgv even holds `-e` and its code).
    const execArgv = isDenoOrBun() ? [] : workerExecArgv(process.execArgv);
    const Pool = loadPiscina();
    this.#pool = startWithAcceptedFlags(
      execArgv,
      (flags) =>
        new Pool({
          filename: WORKER_ENTRY.href,
          // Threads start on demand: the first with the pool, each other one
          // when a batch finds every started thread busy (piscina starts it
          // then), and they stay until close(). A thread's start costs
          // ~40 ms of CPU; a call with one batch no longer pays for threads
          // it will not use, taken from the cores the first thread needs, and
          // a call with nJobs batches or more starts them all at once.
          minThreads: 1,
          maxThreads: workers,
          idleTimeout: Infinity,
          concurrentTasksPerWorker: 1,
          // piscina's run and wait time histograms: nothing here reads them,
          // and each pool and task paid to create and fill them.
          recordTiming: false,
          // Piscina's Atomics.wait idle loop blocks a worker's event loop between
          // tasks, which would stall work a task leaves behind (a cache's index
          // write, a log flush); messages are fast enough with batching.
          atomics: 'disabled',
          execArgv: flags,
          workerData: { typescript } satisfies WorkerData,
          ...(resourceLimits ? { resourceLimits } : {}),
        }),
    );
    // When a call fails, its running batches are aborted and piscina
    // terminates their workers; a worker that had already posted its reply
    // gets that reply delivered for a task piscina no longer tracks, and
    // piscina emits it as an 'error' event, which without a listener crashes
    // the process. That result belongs to a cancelled batch and is dropped on
    // purpose. Any other pool error is rethrown, as Node would without a listener.
    this.#pool.on('error', (error: unknown) => {
      if (error instanceof Error && error.message.startsWith('Unexpected message from Worker')) return;
      throw error;
    });
  }

  check(task: AnyFunction, where: string): void {
    if (isTask(task)) {
      if (isEntryScript(task.moduleUrl)) throw entryScriptError(task.moduleUrl, task.taskName);
      return;
    }
    throw new ParallelError(
      'LARDER_NOT_A_TASK',
      `${where}: ${task.name ? `function ${task.name}` : 'an anonymous function'} is not a task handle, and worker threads cannot receive a function. ` +
        `Export it from a module through tasks(): \`export const { ${task.name || 'myTask'} } = tasks(import.meta.url, { ${task.name || 'myTask'} })\` and pass that handle, ` +
        (this.workers === 1
          ? `(nJobs 1 runs in a worker here because resourceLimits is set; limits cannot apply in this thread.)`
          : `or use backend: 'async' or 'sequential' to run it in this thread.`),
    );
  }

  async run(batch: Batch, context: BatchContext): Promise<BatchOutcome> {
    const task = batch.task as Task;
    let guards: (SharedCopy[] | undefined)[] | undefined;
    let isolate = false;
    let deep = false;
    // A mapped argument is recognised by store-fs (imported once, at the first call).
    await loadStoreFs();
    context.fileShares.sent = false;
    const payload = batch.payload.map((input, i) => {
      const taskGuards: SharedCopy[] = [];
      const prepared =
        batch.mode === 'single'
          ? prepareArg(input, batch.firstIndex + i, 0, context.maxNbytes, context.sharedCopies, taskGuards, context.fileShares)
          : prepareArgs(input as unknown[], batch.firstIndex + i, context.maxNbytes, context.sharedCopies, taskGuards, context.fileShares);
      if (taskGuards.length > 0) (guards ??= [])[i] = taskGuards;
      if (!isolate && batch.payload.length > 1) isolate = holdsObjects(prepared, batch.mode);
      if (!deep && prepared !== input) deep = batch.mode === 'single' ? isDeepTape(prepared) : (prepared as unknown[]).some(isDeepTape);
      return prepared;
    });
    const progress = new SharedArrayBuffer(PROGRESS_BYTES);
    const running = new Int32Array(progress, 0, 2);
    running[RUNNING_INDEX] = -1;
    const request: BatchRequest = { moduleUrl: task.moduleUrl, taskName: task.taskName, mode: batch.mode, payload, progress, teardownChannel: this.#teardownChannel, firstIndex: batch.firstIndex };
    if (this.#init) request.init = this.#init;
    if (guards) request.guards = guards;
    if (isolate) request.isolate = true;
    if (deep) request.deep = true;
    if (context.fileShares.sent) request.files = true;
    const entry = entryScriptPath();
    if (entry !== undefined) request.entryScript = entry;
    const stripped = this.#strippedFor(task.moduleUrl, this.#init?.moduleUrl);
    if (stripped) request.stripped = stripped;

    const stop = new AbortController();
    const unsubscribe = context.onStop(() => cancelBatch(running, () => stop.abort(context.signal.reason)));
    const watchdog = context.timeout === undefined ? undefined : new Watchdog(progress, context.timeout, () => stop.abort('timeout'));
    const runningTaskIndex = (): number => batch.firstIndex + Math.max(0, Atomics.load(running, RUNNING_INDEX));
    try {
      const reply = (await this.#pool.run(request, { signal: stop.signal })) as BatchReply;
      try {
        if (!reply.ok && reply.kind === 'cancelled') throw new AbortError(context.signal.reason);
        if (reply.teardown) this.#listening.add(reply.threadId);
        if (stripped) for (const url of [task.moduleUrl, this.#init?.moduleUrl]) if (url !== undefined) this.#importedBy(url).add(reply.threadId);
        if (reply.output) context.writeOutput(reply.output);
        if (reply.ok) return { results: await receiveResults(reply), durationMs: reply.durationMs };
        throw replyError(reply, batch.firstIndex, task.taskName);
      } finally {
        // Mapped (or failed to): the worker closes the descriptors it opened for them.
        if (reply.ok && reply.files) resultsMapped(progress);
      }
    } catch (error) {
      if (watchdog?.fired) throw new TimeoutError(runningTaskIndex(), context.timeout!, task.taskName);
      if (context.signal.aborted) throw new AbortError(context.signal.reason);
      if (error instanceof ParallelError || (error instanceof Error && 'taskIndex' in error)) throw error; // from replyError
      throw poolFailure(error, runningTaskIndex(), batch.firstIndex, task.taskName);
    } finally {
      watchdog?.stop();
      unsubscribe();
    }
  }

  /**
   * The stripped TypeScript a batch carries: that of its task modules, while
   * some worker has not imported them yet: a live one, or one not started
   * yet, which this batch may start (a worker that replaced a dead one gets
   * them too). Stripped once per pool, on the first batch.
   */
  #strippedFor(...moduleUrls: (string | undefined)[]): StrippedSources | undefined {
    if (!this.#stripped) return undefined;
    const threads = this.#pool.threads;
    let out: StrippedSources | undefined;
    for (const url of moduleUrls) {
      if (url === undefined || !isTypeScriptUrl(url)) continue;
      const imported = this.#importedBy(url);
      if (threads.length >= this.workers && threads.every((worker) => imported.has(worker.threadId))) continue;
      let sources = this.#stripped.get(url);
      if (!sources) this.#stripped.set(url, (sources = stripForWorkers(url)));
      out = { ...out, ...sources };
    }
    return out && Object.keys(out).length > 0 ? out : undefined;
  }

  #importedBy(moduleUrl: string): Set<number> {
    let threads = this.#imported.get(moduleUrl);
    if (!threads) this.#imported.set(moduleUrl, (threads = new Set()));
    return threads;
  }

  async close(): Promise<void> {
    // Workers finish what their tasks left pending (teardown hooks) before
    // terminate() ends them; a hung hook costs at most TEARDOWN_BUDGET_MS.
    const alive = new Set(this.#pool.threads.map((worker) => worker.threadId).filter((id) => this.#listening.has(id)));
    await teardownWorkers(this.#teardownChannel, alive, TEARDOWN_BUDGET_MS);
    await this.#pool.close({ force: true });
  }
}

let initCounter = 0;
let poolCounter = 0;

// A reply's results: those nested too deep come flattened; mapped arrays come as file references, mapped
// here from the descriptors the worker opened (and closes once told, by run(), that they are mapped).
async function receiveResults(reply: Extract<BatchReply, { ok: true }>): Promise<unknown[]> {
  const results = reply.deep ? reply.results.map((value) => (isDeepTape(value) ? decodeDeep(value) : value)) : reply.results;
  if (reply.files) restoreFiles(results, new Map(), await loadStoreFs());
  return results;
}

function replyError(reply: Extract<BatchReply, { ok: false; kind: FailureKind }>, firstIndex: number, taskName: string): Error {
  const taskIndex = firstIndex + Math.max(0, reply.failedAt);
  const detail = `${reply.error.name}: ${reply.error.message}`;
  switch (reply.kind) {
    case 'task':
      return rebuildTaskError(reply.error, taskIndex);
    case 'import':
      return new ParallelError('LARDER_TASK_IMPORT', `task module ${reply.moduleUrl} failed to import in a worker (${detail}). Check that it loads on its own: node ${reply.moduleUrl}`, { cause: rebuildTaskError(reply.error, taskIndex), taskIndex });
    case 'typescript':
      return new ParallelError('LARDER_MISSING_DRIVER', reply.error.message.replace(/^\[larder\/parallel\] /, ''), { taskIndex });
    case 'not-found':
      return new ParallelError('LARDER_TASK_NOT_FOUND', reply.error.message.replace(/^\[larder\/parallel\] /, ''), { taskIndex });
    case 'init':
      return new ParallelError('LARDER_WORKER_INIT', `workerInit (${reply.moduleUrl}) threw in a worker before task ${firstIndex}: ${detail}`, { cause: rebuildTaskError(reply.error, taskIndex), taskIndex });
    case 'shared-write': {
      const error = new ParallelError('LARDER_SHARED_WRITE', reply.error.message.replace(/^\[larder\/parallel\] /, ''), { taskIndex });
      if (reply.argument !== undefined) error.argument = reply.argument;
      return error;
    }
    case 'entry-script':
      return new ParallelError('LARDER_ENTRY_SCRIPT', reply.error.message.replace(/^\[larder\/parallel\] /, ''), { taskIndex });
    case 'result':
      return new ParallelError('LARDER_UNSENDABLE', `${taskLabel(taskIndex, taskName)} returned a value that cannot be sent back from a worker: ${reply.error.message.replace(/^\[larder\/parallel\] /, '')}`, { taskIndex });
  }
}

// Whether any task input holds an object (structured clone would make one
// object of what several tasks of the batch share).
function holdsObjects(prepared: unknown, mode: 'single' | 'spread'): boolean {
  if (mode === 'single') return typeof prepared === 'object' && prepared !== null;
  return (prepared as unknown[]).some((arg) => typeof arg === 'object' && arg !== null);
}

/**
 * What piscina rejected with, when the worker's reply did not say: a value
 * that could not be posted (either way), or a worker that died. Always a
 * ParallelError naming the task, whatever piscina passed on (even a bare `{}`).
 */
function poolFailure(error: unknown, taskIndex: number, firstIndex: number, taskName: string): ParallelError {
  if (error instanceof Error && (error.name === 'DataCloneError' || /could not be cloned/.test(error.message))) {
    return new ParallelError(
      'LARDER_UNSENDABLE',
      `${taskLabel(taskIndex, taskName)}: a value could not be posted between threads (${error.message}); send plain data (objects, arrays, typed arrays, no functions, Proxies or class instances).`,
      { cause: error, taskIndex: Math.max(taskIndex, firstIndex) },
    );
  }
  if (error instanceof Error) return workerDeath(error, taskIndex, taskName);
  return new ParallelError('LARDER_WORKER_EXIT', `${taskLabel(taskIndex, taskName)} failed: its worker reported ${describeValue(error)}. The pool replaced the worker and stays usable.`, { cause: error, taskIndex });
}

function workerDeath(error: Error, taskIndex: number, taskName: string): ParallelError {
  const code = /exited with code:? (-?\d+)/.exec(error.message)?.[1];
  const outOfMemory = (error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY' || /memory limit|out of memory/i.test(error.message);
  const what = outOfMemory
    ? `its worker ran out of memory (${error.message}); raise resourceLimits or make the task use less memory`
    : code !== undefined
      ? `its worker exited with code ${code} (process.exit() or a fatal error in the task)`
      : `its worker died (${error.message})`;
  return new ParallelError('LARDER_WORKER_EXIT', `${taskLabel(taskIndex, taskName)} failed: ${what}. The pool replaced the worker and stays usable.`, { cause: error, taskIndex });
}

/**
 * Stops a batch of a call that failed or was aborted (protocol.ts, BATCH_PHASE):
 * `terminate` (piscina's abort: drops a queued batch, ends a busy thread) at
 * once unless the worker is in its before-task hooks; then the batch is
 * marked cancelled, the worker replies once the hooks are done, and is ended
 * only if they take longer than TEARDOWN_BUDGET_MS.
 */
function cancelBatch(state: Int32Array, terminate: () => void): void {
  for (;;) {
    const phase = Atomics.load(state, BATCH_PHASE);
    if (phase === PHASE_RUNNING || phase === PHASE_CANCELLED) return terminate();
    if (Atomics.compareExchange(state, BATCH_PHASE, phase, PHASE_CANCELLED) !== phase) continue;
    if (phase === PHASE_QUEUED) return terminate();
    setTimeout(terminate, TEARDOWN_BUDGET_MS).unref();
    return;
  }
}

// Checks the running task's start time rather than the batch's: each task
// of a batch gets the full timeout from its own start.
class Watchdog {
  fired = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #running: Int32Array;
  readonly #startedAt: Float64Array;

  constructor(
    progress: SharedArrayBuffer,
    readonly timeoutMs: number,
    readonly onTimeout: () => void,
  ) {
    this.#running = new Int32Array(progress, 0, 1);
    this.#startedAt = new Float64Array(progress, START_TIME_OFFSET, 1);
    this.#arm(timeoutMs);
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => this.#check(), Math.max(1, delay));
  }

  #check(): void {
    if (Atomics.load(this.#running, RUNNING_INDEX) < 0) return this.#arm(Math.min(this.timeoutMs, 50));
    const elapsed = performance.timeOrigin + performance.now() - this.#startedAt[0]!;
    if (elapsed < this.timeoutMs) return this.#arm(this.timeoutMs - elapsed);
    this.fired = true;
    this.onTimeout();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}
