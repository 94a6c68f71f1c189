export { Parallel, parallel, type CallResult, type IterateOptions, type TaskResult } from './parallel.js';
export { tasks, delayed, isTask, type AnyFunction, type Call, type Task, type TaskModule, type TaskRef } from './tasks.js';
export { cpuCount, effectiveNJobs } from './njobs.js';
export { DEFAULTS, type BackendName, type CallOptions, type ParallelOptions, type ProgressCallback } from './options.js';
export type { RedisConnection } from './remote-options.js';
export { AbortError, ParallelError, TimeoutError, type ParallelErrorCode, type TaskError } from './errors.js';
export type { Items } from './input.js';
export { onWorkerTeardown, TEARDOWN_BUDGET_MS, WORKER_HOOKS, workerHooks, type BeforeTaskHook, type TeardownHook, type WorkerHookRegistry } from './worker-hooks.js';
export { PARALLEL_THREAD_STATE, type ParallelThreadState } from './thread-state.js';
