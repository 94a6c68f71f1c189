/**
 * What travels between a 'bullmq' pool and its `larder-worker` processes:
 * one job per batch (its data says which module, which task, and carries the
 * encoded arguments), one reply per job (its return value: the encoded
 * results, or the error that stopped the batch, and what the tasks printed).
 * Values are encoded by transfer.ts.
 */
import { existsSync, realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ParallelError, rebuildTaskError, TimeoutError, type ParallelErrorCode, type SerializedError } from './errors.js';
import type { TaskOutput } from './task-output.js';

/** Version of the job and reply shapes; a worker refuses jobs of another. */
export const PROTOCOL_VERSION = 1;

/**
 * Where a task module is, in the ways a worker on another machine may find
 * it: the caller's URL, its path relative to the caller's working
 * directory, and, inside node_modules, its package path (`pkg/dist/tasks.js`).
 */
export interface ModuleAddress {
  url: string;
  path?: string;
  package?: string;
}

/** A call's id (JobData.call): the pool's 12 hex digits and a counter. Transfer keys start with it. */
const CALL_ID = /^[0-9a-f]{12}-[1-9]\d{0,14}$/;

export function isCallId(call: unknown): call is string {
  return typeof call === 'string' && CALL_ID.test(call);
}

/**
 * The store keys of a call (transfer.ts carries them): the arguments the pool puts,
 * `<call>/a<n>`; a batch's result arrays, `<call>/r<first>-<n>`, and its reply when stored,
 * `<call>/reply<first>`, which the batch's worker puts. Each side reads only the keys the
 * other side of this call and batch writes: a job or a reply comes through Redis, which other
 * programs can write, and must not make anyone read (or the pool delete) any other key.
 */
export const transferKeys = {
  argument: (call: string, n: number) => `${call}/a${n}`,
  result: (call: string, first: number, n: number) => `${call}/r${first}-${n}`,
  reply: (call: string, first: number) => `${call}/reply${first}`,
  isArgument: (call: string, key: string) => key.startsWith(`${call}/a`) && /^\d+$/.test(key.slice(call.length + 2)),
  isResult: (call: string, first: number, key: string) =>
    key === `${call}/reply${first}` || (key.startsWith(`${call}/r${first}-`) && /^\d+$/.test(key.slice(`${call}/r${first}-`.length))),
};

/** The data of one job: one batch. */
export interface JobData {
  v: number;
  /** The call the batch belongs to: cancel messages and transfer keys name it. */
  call: string;
  module: ModuleAddress;
  taskName: string;
  mode: 'single' | 'spread';
  /** Task index (input order) of the batch's first task. */
  firstIndex: number;
  /** transfer.ts's encoding of the batch's inputs (a list, one per task). */
  payload: string;
  /** Some inputs came flattened for being too deep (deep-values.ts). */
  deep?: boolean;
  /** Per task, from its start, ms. */
  timeout?: number;
  /** Typed arrays in results above this many bytes go to `store` (no store: they travel in the reply). */
  maxNbytes: number | null;
  /** Where large arrays are, as workers open it: a folder path or 's3://bucket/prefix'. */
  store?: string;
}

/** A task's error as the caller rebuilds it. */
export interface RemoteError extends SerializedError {
  taskIndex?: number;
  /** Raised by larder itself (a ParallelError): `code` is one of ours. */
  parallel?: boolean;
  argument?: string;
}

/**
 * A job's return value also travels in BullMQ's event stream, which keeps
 * the last ~10 000 events: a reply longer than this (encoded) goes through
 * the pool's store when it has one, and the job returns
 * `STORED_REPLY + key` instead.
 */
export const INLINE_REPLY_CHARS = 256 * 1024;
export const STORED_REPLY = 'larder-store:';

/** What a job returns (encoded by transfer.ts). */
export type JobReply = { v: number; host: string; pid: number; output?: TaskOutput[] } & (
  | { ok: true; results: unknown[]; durationMs: number }
  | { ok: false; error: RemoteError }
);

/** The caller side: where a task module is, for workers. */
export function moduleAddress(url: string): ModuleAddress {
  const address: ModuleAddress = { url };
  if (!url.startsWith('file:')) return address;
  const path = fileURLToPath(url);
  const marker = `${sep}node_modules${sep}`;
  const inPackages = path.lastIndexOf(marker);
  if (inPackages >= 0) address.package = path.slice(inPackages + marker.length).split(sep).join('/');
  const fromCwd = relative(process.cwd(), path);
  if (fromCwd !== '' && !fromCwd.startsWith('..') && !isAbsolute(fromCwd)) address.path = fromCwd.split(sep).join('/');
  return address;
}

/**
 * The worker side: the URL to import for `address`, looked for in this
 * order: the package in a node_modules folder at or above `root`; the path
 * under `root`; the caller's own file URL when that file is under `root` (a
 * shared file system, or this very machine). Throws LARDER_TASK_IMPORT naming
 * every place tried.
 */
export function resolveModule(address: ModuleAddress, root: string): string {
  const tried: string[] = [];
  if (address.package !== undefined && !address.package.split('/').includes('..')) {
    for (let dir = root; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', ...address.package.split('/'));
      tried.push(candidate);
      if (existsSync(candidate)) return pathToFileURL(candidate).href;
      if (dirname(dir) === dir) break;
    }
  }
  if (address.path !== undefined && !address.path.split('/').includes('..')) {
    const candidate = join(root, ...address.path.split('/'));
    tried.push(candidate);
    if (existsSync(candidate)) return pathToFileURL(candidate).href;
  }
  // The caller's own file URL, only under the root: a job is data anyone who can write the queue's
  // Redis can forge, and a data:, node: or other URL, or any file on this machine, would let it run
  // any code here (`node:fs` exports rmSync).
  let own: string | undefined;
  try {
    own = typeof address.url === 'string' && address.url.startsWith('file:') ? fileURLToPath(address.url) : undefined;
  } catch {
    own = undefined;
  }
  if (own === undefined) {
    throw new ParallelError('LARDER_TASK_IMPORT', `task module ${JSON.stringify(address.url)} is not a file: larder-worker (${hostname()}) imports task modules from files under its --root (${root}) only; tried ${tried.join(', ') || 'nothing'}.`);
  }
  tried.push(own);
  if (existsSync(own) && isUnder(own, root)) return pathToFileURL(own).href;
  throw new ParallelError(
    'LARDER_TASK_IMPORT',
    `task module ${address.url} is not on this worker (${hostname()}): tried ${tried.join(', ')}. Install its package where the worker runs, ` +
      `or start larder-worker with --root at a copy of the caller's project (its working directory: modules under it resolve by their relative path; a module is imported from under --root only).`,
  );
}

/** Whether the file `file` is inside the folder `root`, symlinks resolved (a link under the root to a file elsewhere is elsewhere). */
function isUnder(file: string, root: string): boolean {
  try {
    const inside = relative(realpathSync(root), realpathSync(file));
    return inside !== '' && !inside.startsWith('..') && !isAbsolute(inside);
  } catch {
    return false;
  }
}

/** The worker side: an error from the threads backend, for the reply. */
export function remoteError(error: unknown): RemoteError {
  const raised: Error & { code?: unknown; taskIndex?: unknown; argument?: unknown } = error instanceof Error ? error : new Error(String(error));
  const cause = raised.cause instanceof Error ? raised.cause : undefined;
  const out: RemoteError = { name: raised.name, message: raised.message };
  // A task's error comes rebuilt, its worker-thread stack kept as `cause`: that stack is the one to send.
  const stack = error instanceof ParallelError ? raised.stack : (cause?.stack ?? raised.stack);
  if (stack !== undefined) out.stack = stack;
  if (typeof raised.code === 'string' || typeof raised.code === 'number') out.code = raised.code;
  if (typeof raised.taskIndex === 'number') out.taskIndex = raised.taskIndex;
  if (typeof raised.argument === 'string') out.argument = raised.argument;
  if (error instanceof ParallelError) out.parallel = true;
  return out;
}

/**
 * The caller side: the error a reply carried, as the caller's own: a task's
 * error with its name, message and code, the remote stack as `cause`; a
 * larder error (timeout, worker exit, import) with its class and code.
 */
export function rebuildRemoteError(remote: RemoteError, firstIndex: number, taskName: string, timeoutMs: number | undefined, where: string): Error {
  const taskIndex = remote.taskIndex ?? firstIndex;
  if (!remote.parallel) return rebuildTaskError(remote, taskIndex);
  if (remote.code === 'LARDER_TIMEOUT' && timeoutMs !== undefined) return new TimeoutError(taskIndex, timeoutMs, taskName);
  const stack = new Error(remote.message);
  stack.name = remote.name;
  if (remote.stack !== undefined) stack.stack = remote.stack;
  const error = new ParallelError(remote.code as ParallelErrorCode, `${remote.message.replace(/^\[larder\/parallel\] /, '')} (${where})`, { taskIndex, cause: stack });
  if (remote.argument !== undefined) error.argument = remote.argument;
  return error;
}
