/**
 * The rule that a task module is never the process's entry script. Worker
 * threads find a task by importing its module; when that module is the
 * script the user ran, every worker would run the whole script again (and
 * start its own pool, and so on without end). The caller refuses such a task
 * before any worker sees it; a worker, told the entry script by the caller,
 * refuses to import it, and `tasks()` evaluated in a worker under the entry
 * script's URL stops the script there, before its side effects.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { ParallelError } from './errors.js';
import { threadState } from './thread-state.js';

// node:fs through getBuiltinModule, not an import: an ES import of node:fs builds
// its namespace from every export, which runs fs's lazy getters (promises,
// streams, readline...): ~15 more built-in modules for each worker thread to
// compile at start (worker-entry.js).
const { realpathSync } = process.getBuiltinModule('node:fs');

// Shared with other copies of this package in the thread (thread-state.ts);
// in a worker it is set from the caller's request.
const slot = threadState();

/** The real path of this process's entry script (`process.argv[1]`), or undefined (a REPL, `node -e`). */
export function entryScriptPath(): string | undefined {
  if (slot.entryScript !== undefined) return slot.entryScript ?? undefined;
  slot.entryScript = null;
  // In a worker thread process.argv names the worker file; only the main thread knows the script.
  // Under `node -e code arg` or `-p`, argv[1] is the code's first argument, not a script.
  const evaluated = process.execArgv.some((flag) => /^(-e|-p|--eval|--print)(=|$)/.test(flag) || /^-[a-z]*[ep]$/.test(flag));
  const script = isMainThread && !evaluated ? process.argv[1] : undefined;
  if (script && !script.startsWith('-')) slot.entryScript = realPath(resolve(script));
  return slot.entryScript ?? undefined;
}

// Resolved when this package loads, before the script can chdir() away from
// the directory its relative argv[1] is relative to.
if (isMainThread) entryScriptPath();

/** In a worker: the caller's entry script, as the request says. */
export function setEntryScriptPath(path: string | undefined): void {
  if (slot.entryScript === undefined || slot.entryScript === null) slot.entryScript = path ?? null;
}

/** The real path of a file: URL, without its query (loaders add one), or undefined for other URLs. */
function modulePath(moduleUrl: string): string | undefined {
  if (!moduleUrl.startsWith('file:')) return undefined;
  try {
    const url = new URL(moduleUrl);
    url.search = '';
    url.hash = '';
    return realPath(fileURLToPath(url));
  } catch {
    return undefined;
  }
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Whether `moduleUrl` is the entry script (compared by real path, so symlinks and `./` do not hide it). */
export function isEntryScript(moduleUrl: string, entry = entryScriptPath()): boolean {
  if (entry === undefined) return false;
  return modulePath(moduleUrl) === entry;
}

/** The LARDER_ENTRY_SCRIPT error for a task declared in the entry script. */
export function entryScriptError(moduleUrl: string, taskName: string | undefined, taskIndex?: number): ParallelError {
  return new ParallelError(
    'LARDER_ENTRY_SCRIPT',
    `${taskName ? `task ${taskName}` : 'a task'} is declared in the entry script ${modulePath(moduleUrl) ?? moduleUrl} (the file node runs). ` +
      `Worker threads import a task's module to find it, which would run the whole script again in every worker. ` +
      `Move the tasks into their own module (tasks.ts: export const { f } = tasks(import.meta.url, { f })) and import them from the script, or run them in this thread (nJobs: 1 or backend: 'async').`,
    taskIndex === undefined ? undefined : { taskIndex },
  );
}
