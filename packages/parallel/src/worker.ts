/**
 * The worker side of the threads backend (loaded by worker-entry.js in each
 * piscina worker). It finds the task — by importing the task's module, whose
 * top-level `tasks(import.meta.url, {...})` call registers its functions in
 * this thread — runs the batch, and replies with the results, their buffers
 * listed for transfer at the top level of the reply.
 */
import { performance } from 'node:perf_hooks';
import { isProxy } from 'node:util/types';
import { threadId } from 'node:worker_threads';
import { entryScriptError, isEntryScript, setEntryScriptPath } from './entry-script.js';
import { ParallelError, serializeError } from './errors.js';
import { markWorkerThread } from './njobs.js';
import { BATCH_PHASE, isTypeScriptUrl, PHASE_QUEUED, PHASE_RUNNING, PHASE_SETTLING, RUNNING_INDEX, START_TIME_OFFSET, type BatchReply, type BatchRequest, type FailureKind, type TaskAddress } from './protocol.js';
import { decodeDeep, isDeepTape } from './deep-values.js';
import { checkResult } from './share-args.js';
import { closeFiles, closeFilesWhenMapped, fileShares, loadStoreFs, restoreFiles } from './share-files.js';
import { changedCopy, findPath, sharedWriteError } from './share-guard.js';
import { OutputCapture } from './task-output.js';
import { isThenable, lookupTask, type AnyFunction } from './tasks.js';
import { settleBeforeTask, workerHookRegistry } from './worker-hooks.js';
import { serveStrippedSources } from './worker-typescript.js';

/** Makes `import()` of TypeScript modules work in this thread (registers tsx once). */
export type EnsureTypeScript = (moduleUrl: string) => Promise<void>;

/**
 * piscina's `move()`, loaded by the first reply with buffers to transfer:
 * the module is piscina's whole pool, which a worker otherwise never needs
 * (its cost is part of every worker's start).
 */
type PiscinaMove = Pick<typeof import('piscina'), 'move' | 'transferableSymbol' | 'valueSymbol'>;
let piscina: Promise<PiscinaMove> | undefined;
const loadPiscina = (): Promise<PiscinaMove> => (piscina ??= import('piscina'));

/**
 * Whether close() must ask this thread to run teardown hooks. Asking costs a
 * fresh worker ~40 ms (the broadcast's first message loads Node's MessageEvent),
 * so threads without hooks are spared it.
 */
const hasTeardownHooks = (): boolean => workerHookRegistry().teardown.size > 0;

const describeResult = (path: string): string => `the result${path ? ` at ${path}` : ''}`;

class BatchFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    readonly failedAt: number,
    readonly original: unknown,
    readonly moduleUrl: string,
    readonly argument?: string,
  ) {
    super(kind);
  }
}

/** Builds the function piscina calls for each batch. */
export function createBatchRunner(ensureTypeScript: EnsureTypeScript): (request: BatchRequest) => Promise<unknown> {
  // Nested parallel() calls made by tasks here default to nJobs = 1.
  markWorkerThread();
  const initialized = new Set<string>();
  /** Set once this thread answers the pool's teardown broadcast: from the first reply that says it has teardown hooks. */
  let listening: Promise<void> | undefined;
  let teardownChannel = '';
  // Tasks' output rides back with the reply, so the caller prints it before the results (task-output.ts).
  const output = new OutputCapture();

  async function resolveTask(address: TaskAddress, failedAt: number): Promise<AnyFunction> {
    const known = lookupTask(address.moduleUrl, address.taskName);
    if (known) return known;
    // Importing the caller's entry script would run the whole script again here.
    if (isEntryScript(address.moduleUrl)) throw new BatchFailure('entry-script', failedAt, entryScriptError(address.moduleUrl, address.taskName), address.moduleUrl);
    let namespace: Record<string, unknown>;
    try {
      if (isTypeScriptUrl(address.moduleUrl)) await ensureTypeScript(address.moduleUrl);
      namespace = (await import(address.moduleUrl)) as Record<string, unknown>;
    } catch (error) {
      let kind: FailureKind = 'import';
      try {
        if ((error as { code?: string }).code === 'LARDER_MISSING_DRIVER') kind = 'typescript';
      } catch {
        // A module that threw a revoked Proxy while importing: an import failure.
      }
      throw new BatchFailure(kind, failedAt, error, address.moduleUrl);
    }
    // The registry is the rule; an export of the same name is the fallback
    // for modules whose tasks() ran under another URL (symlinks, bundlers).
    const fn = lookupTask(address.moduleUrl, address.taskName) ?? namespace[address.taskName];
    if (typeof fn === 'function') return fn as AnyFunction;
    const error = new ParallelError(
      'LARDER_TASK_NOT_FOUND',
      `module ${address.moduleUrl} was imported in the worker but declares no task "${address.taskName}": declare it at the module's top level with tasks(import.meta.url, { ${address.taskName} }).`,
    );
    throw new BatchFailure('not-found', failedAt, error, address.moduleUrl);
  }

  async function runInit(request: BatchRequest): Promise<void> {
    const init = request.init;
    if (!init || initialized.has(init.key)) return;
    const fn = await resolveTask(init, -1);
    try {
      await fn(...init.args.map(undeep));
    } catch (error) {
      throw new BatchFailure('init', -1, error, init.moduleUrl);
    }
    initialized.add(init.key);
  }

  /**
   * A reply with what every reply carries: what the batch printed, and
   * whether this thread has teardown hooks. A thread with hooks listens for
   * the pool's teardown broadcast from its first such reply on: set up here
   * rather than at start, since most threads have none and the channel (and
   * its module) would be part of every thread's start.
   */
  async function finish<R extends BatchReply>(reply: R): Promise<R> {
    const printed = output.stop();
    if (printed) reply.output = printed;
    if (hasTeardownHooks()) {
      reply.teardown = true;
      await (listening ??= import('./teardown.js').then(({ listenForTeardown }) => listenForTeardown(teardownChannel)));
    }
    return reply;
  }

  return async function runBatch(request: BatchRequest): Promise<unknown> {
    const running = new Int32Array(request.progress, 0, 2);
    const startedAt = new Float64Array(request.progress, START_TIME_OFFSET, 1);
    const { payload, guards, isolate } = request;
    let index = 0;
    // Descriptors opened for mapped arrays in the results: this thread closes them once the caller has mapped them, or when the batch fails.
    const resultFiles = fileShares();
    setEntryScriptPath(request.entryScript);
    output.start();
    teardownChannel = request.teardownChannel;
    try {
      if (request.stripped) serveStrippedSources(request.stripped);
      await runInit(request);
      const fn = await resolveTask(request, 0);
      // After the imports (a task module may register worker hooks) and right before the tasks: work left
      // under way in this thread (an index write) finishes before a task that may be terminated runs.
      // A call that stopped meanwhile cancels the batch here (protocol.ts, BATCH_PHASE): from SETTLING
      // until RUNNING the parent does not terminate this thread, so the hooks' work is never cut off.
      if (Atomics.compareExchange(running, BATCH_PHASE, PHASE_QUEUED, PHASE_SETTLING) !== PHASE_QUEUED) return finish({ threadId, ok: false, kind: 'cancelled' });
      const settling = settleBeforeTask();
      if (settling) await settling;
      if (Atomics.compareExchange(running, BATCH_PHASE, PHASE_SETTLING, PHASE_RUNNING) !== PHASE_SETTLING) return finish({ threadId, ok: false, kind: 'cancelled' });
      const results = new Array<unknown>(payload.length);
      const start = performance.now();
      for (; index < payload.length; index++) {
        // Start time first, then the index with a fence: a watchdog that sees
        // the new index reads this task's start time.
        startedAt[0] = performance.timeOrigin + performance.now();
        Atomics.store(running, RUNNING_INDEX, index);
        // One message made one object of what several tasks share; each task but the last gets its own copy.
        let input = isolate && index < payload.length - 1 ? structuredClone(payload[index]) : payload[index];
        if (request.deep) input = request.mode === 'single' ? undeep(input) : (input as unknown[]).map(undeep);
        // Each task maps the files of its mapped arguments itself (copy-on-write pages of its own), or reuses a
        // mapping an earlier task here left unwritten: a new mapping over 64 MiB costs a V8 garbage collection.
        if (request.files) input = restoreFiles(input, new Map(), await loadStoreFs(), true);
        let value = request.mode === 'single' ? fn(input) : fn(...(input as unknown[]));
        if (isThenable(value)) value = await value;
        results[index] = value;
        // Before the next task runs: a write to a read-only shared copy fails here, naming this task.
        const changed = changedCopy(guards?.[index]);
        if (changed) {
          const args = request.mode === 'single' ? [payload[index]] : (payload[index] as unknown[]);
          const path = findPath(args, changed.view);
          throw new BatchFailure('shared-write', index, sharedWriteError((request.firstIndex ?? 0) + index, request.taskName, path, changed.view), request.moduleUrl, path);
        }
      }
      const durationMs = performance.now() - start;
      const transfer = new Set<ArrayBuffer>();
      let deep = false;
      const ready = new Array<unknown>(results.length);
      for (index = 0; index < results.length; index++) ready[index] = checkResult(results[index], transfer, describeResult, resultFiles);
      if (resultFiles.wanted) {
        // A result may hold a mapped array, and store-fs, which tells, is not loaded in this thread yet: once per thread.
        await loadStoreFs();
        transfer.clear();
        for (index = 0; index < results.length; index++) ready[index] = checkResult(results[index], transfer, describeResult, resultFiles);
      }
      for (index = 0; index < results.length; index++) deep ||= isDeepTape(ready[index]);
      const reply = await finish<Extract<BatchReply, { ok: true }>>({ threadId, ok: true, results: ready, durationMs });
      if (deep) reply.deep = true;
      if (resultFiles.sent) reply.files = true;
      let posted: unknown = reply;
      if (transfer.size > 0) {
        // One movable wrapper at the top level: piscina posts the reply with
        // this transfer list, so result buffers move instead of being copied.
        const { move, transferableSymbol, valueSymbol } = await loadPiscina();
        posted = move({ [transferableSymbol]: [...transfer], [valueSymbol]: reply } as unknown as Parameters<typeof move>[0]);
      }
      closeFilesWhenMapped(resultFiles, request.progress);
      return posted;
    } catch (error) {
      closeFiles(resultFiles);
      const failure = !isProxy(error) && error instanceof BatchFailure ? error : new BatchFailure(isUnsendable(error) ? 'result' : 'task', index, error, request.moduleUrl);
      // serializeError never throws and gives only strings: this reply always posts.
      const reply: BatchReply = {
        threadId,
        ok: false,
        kind: failure.kind,
        failedAt: failure.failedAt,
        error: serializeError(failure.original),
        moduleUrl: failure.moduleUrl,
      };
      if (failure.argument !== undefined) reply.argument = failure.argument;
      return finish(reply);
    }
  };
}

// What the task threw may be a Proxy whose traps throw, even for instanceof:
// our own failures are never Proxies, so they are told apart first.
function isUnsendable(error: unknown): boolean {
  return !isProxy(error) && error instanceof ParallelError && error.code === 'LARDER_UNSENDABLE';
}

// An argument nested beyond what structured clone takes came flattened.
function undeep(value: unknown): unknown {
  return isDeepTape(value) ? decodeDeep(value) : value;
}
