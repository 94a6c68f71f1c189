/**
 * `@larder/parallel/tasks`: what a task module needs, and nothing of the
 * pool. Worker threads import every task module, so whatever it imports is
 * part of each worker's start; the package index would bring the pool, its
 * backends and @larder/store-fs into every worker (tens of ms of module
 * loading on each cold start), this entry brings four small modules. The
 * same names are exported by the package index, and both share one registry.
 */
export { tasks, delayed, isTask, type AnyFunction, type Call, type Task, type TaskModule, type TaskRef } from './tasks.js';
