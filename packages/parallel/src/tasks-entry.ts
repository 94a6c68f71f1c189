/**
 * `@larder/parallel/tasks`: what a task module needs, and nothing of the
 * pool. Worker threads import every task module, so whatever it imports is
 * part of each worker's start: the package index brings the pool, its
 * backends and @larder/store-fs (some 70 modules and the built-ins they use,
 * ~50 ms of CPU in each new worker on Node 24), this entry a few small
 * modules that the worker has loaded already. The package index exports the
 * same names; both share one registry (thread-state.ts).
 */
export { tasks, delayed, isTask, type AnyFunction, type Call, type Task, type TaskModule, type TaskRef } from './tasks.js';
export { workerHooks, type BeforeTaskHook, type TeardownHook } from './worker-hooks.js';
