/**
 * What crosses the thread boundary. Arguments: checked for what structured
 * clone cannot send faithfully (functions, symbols, class instances), mapped
 * arrays sent as file references (share-files.ts), and other large typed
 * arrays moved once per call into shared memory. Results: checked the same
 * way, mapped arrays sent as file references, other ArrayBuffers, at any
 * depth, listed for transfer instead of copied.
 */
import { isProxy, isSharedArrayBuffer } from 'node:util/types';
import { ParallelError } from './errors.js';
import { encodeDeep, type DeepTape } from './deep-values.js';
import { fileMarker, type FileShares } from './share-files.js';
import { copyToSharedWithDigest, type SharedCopies, type SharedCopy } from './share-guard.js';

/**
 * Deepest nesting sent to or from a worker. Structured clone recurses on the
 * native stack and overflows between 1 900 (objects, main thread) and 13 000
 * levels; below this bound it never does, and a deeper value is sent
 * flattened (deep-values.ts) instead of failing with a bare RangeError.
 */
export const MAX_DEPTH = 1000;


const CLONEABLE_OBJECTS = [Date, RegExp, ArrayBuffer, SharedArrayBuffer, Error, Boolean, Number, String] as const;

/**
 * One walk over one value (or the arguments of one call). `memo` maps each
 * container met to what it became, so a container reached twice (two
 * properties holding one object, or a cycle) becomes one prepared object,
 * and structured clone then keeps it one object in the worker. It is created
 * only when the walk first goes below a container, so a flat item costs no Map.
 */
interface Walk {
  readonly maxNbytes: number;
  readonly copies: SharedCopies | undefined;
  /** Where mapped arrays' markers are kept (arguments: per call; results: per reply). */
  readonly files: FileShares | undefined;
  /** Results only: where the buffers that can move are gathered. */
  readonly transfer: Set<ArrayBuffer> | undefined;
  memo: Map<object, unknown> | undefined;
  /** Arguments only: the shared copies the task receives, for the worker to check after it. */
  readonly guards: SharedCopy[] | undefined;
  depth: number;
}

/**
 * Raised deep in a walk; each container on the way up adds where it was
 * found, so the path text is built only for a value that fails.
 */
class Unsendable {
  readonly path: string[] = [];
  constructor(
    readonly what: string,
    /** Nested beyond MAX_DEPTH: sent flattened (deep-values.ts) instead of refused. */
    readonly tooDeep = false,
  ) {}
}

/**
 * Returns one argument ready to post: the same value when nothing changed.
 * Throws LARDER_UNSENDABLE naming the task index and the argument position.
 */
export function prepareArg(value: unknown, taskIndex: number, position: number, maxNbytes: number, copies: SharedCopies, guards?: SharedCopy[], files?: FileShares): unknown {
  if (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol') return value;
  try {
    try {
      return prepareValue(value, { maxNbytes, copies, files, transfer: undefined, memo: undefined, guards, depth: 0 });
    } catch (error) {
      if (error instanceof Unsendable && error.tooDeep) return flatten(value, { maxNbytes, copies, files, transfer: undefined, memo: undefined, guards, depth: 0 });
      throw error;
    }
  } catch (error) {
    throw unsendable(error, (path) => describeArg(taskIndex, position, path), taskIndex);
  }
}

/**
 * A value nested beyond what structured clone can take, as a tape of shallow
 * nodes (deep-values.ts); its leaves are prepared as usual, so large arrays
 * are still shared and result buffers still listed for transfer.
 */
function flatten(value: unknown, walk: Walk): DeepTape {
  return encodeDeep(
    value,
    (leaf) => prepareValue(leaf, { ...walk, memo: undefined, depth: 0 }),
    (what) => {
      throw new Unsendable(what);
    },
  );
}

/**
 * Returns the arguments of one call ready to post: the same array when
 * nothing changed. One walk covers every position, so an object passed
 * twice (`f(obj, obj)`) stays one object in the worker.
 */
export function prepareArgs(args: readonly unknown[], taskIndex: number, maxNbytes: number, copies: SharedCopies, guards?: SharedCopy[], files?: FileShares): unknown[] {
  let out: unknown[] | undefined;
  let walk: Walk | undefined;
  let position = 0;
  try {
    for (; position < args.length; position++) {
      const value = args[position];
      if (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol') continue;
      walk ??= { maxNbytes, copies, files, transfer: undefined, memo: undefined, guards, depth: 0 };
      let prepared: unknown;
      try {
        prepared = prepareValue(value, walk);
      } catch (error) {
        if (!(error instanceof Unsendable && error.tooDeep)) throw error;
        walk.depth = 0;
        prepared = flatten(value, walk);
      }
      if (prepared !== value) (out ??= [...args])[position] = prepared;
    }
  } catch (error) {
    throw unsendable(error, (path) => describeArg(taskIndex, position, path), taskIndex);
  }
  return out ?? (args as unknown[]);
}

/**
 * Returns a task's result ready to post: itself, its mapped arrays replaced
 * by file markers kept in `files` (share-files.ts), or flattened when nested
 * beyond MAX_DEPTH (see deep-values.ts).
 * Throws LARDER_UNSENDABLE when a task's result holds what cannot be posted
 * back (a function, a class instance); `describe` turns the path inside the
 * value (`''`, `.model`, `[3]`) into where it sits, and runs only on failure.
 * The same walk adds to `transfer` the ArrayBuffers the result can give away,
 * at any depth (objects, arrays, Map keys and values, Set items). A view is
 * moved only when it spans its whole buffer, so a Buffer cut from Node's
 * shared pool, or a slice of a larger array, is copied instead of detaching
 * memory still in use; shared memory is never moved.
 */
export function checkResult(value: unknown, transfer: Set<ArrayBuffer>, describe: (path: string) => string, files?: FileShares): unknown {
  if (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol') return value;
  const walk: Walk = { maxNbytes: Infinity, copies: undefined, files, transfer, memo: undefined, guards: undefined, depth: 0 };
  try {
    try {
      return prepareValue(value, walk);
    } catch (error) {
      if (error instanceof Unsendable && error.tooDeep) return flatten(value, walk);
      throw error;
    }
  } catch (error) {
    throw unsendable(error, describe);
  }
}

function describeArg(taskIndex: number, position: number, path: string): string {
  return `argument ${position} of ${taskIndex < 0 ? 'workerInit' : `task ${taskIndex}`}${path ? ` (at args[${position}]${path})` : ''}`;
}

// The message is built here, once a walk has failed: the happy path never
// formats a path.
function unsendable(error: unknown, describe: (path: string) => string, taskIndex?: number): unknown {
  const options = taskIndex === undefined || taskIndex < 0 ? undefined : { taskIndex };
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return new ParallelError('LARDER_UNSENDABLE', `${describe('')} is nested too deeply to walk (the stack overflowed); structured clone cannot send it either. Flatten it (an array of nodes with parent indices) before sending.`, { cause: error, ...options });
  }
  if (!(error instanceof Unsendable)) return error;
  return new ParallelError('LARDER_UNSENDABLE', `${describe(shortPath(error.path.reverse()))} ${error.what}`, options);
}

// A path through a value nested a thousand levels deep would be a message
// of thousands of steps: its head and tail say enough.
function shortPath(steps: string[]): string {
  if (steps.length <= 24) return steps.join('');
  return `${steps.slice(0, 12).join('')}...(${steps.length - 20} more levels)...${steps.slice(-8).join('')}`;
}

function readItem(container: object, key: string | number): unknown {
  try {
    return (container as Record<string | number, unknown>)[key];
  } catch (error) {
    throw new Unsendable(`has a getter that threw when read (${error instanceof Error ? error.message : String(error)}); structured clone would read it too. Send plain data.`);
  }
}

function prepareValue(value: unknown, walk: Walk): unknown {
  const kind = typeof value;
  if (kind === 'function' || kind === 'symbol') {
    throw new Unsendable(`is a ${kind}, which cannot be sent to a worker thread. Pass data, or a task handle's name, and look the function up in the task.`);
  }
  if (kind !== 'object' || value === null) return value;
  const object = value as object;
  if (isProxy(object)) {
    throw new Unsendable('is a Proxy, which structured clone cannot send (it would see only its target, or fail). Send the plain data behind it.');
  }
  if (ArrayBuffer.isView(object)) {
    // A mapped array goes as a file reference: neither copied nor transferred (its buffer is the mapping).
    const marker = walk.files && fileMarker(object, walk.files);
    if (marker) return marker;
  }
  if (walk.transfer !== undefined) addTransferable(object, walk.transfer);
  if (ArrayBuffer.isView(object)) return shareLarge(object, walk);
  if (walk.memo !== undefined) {
    // A container seen before (or still being walked, for a cycle) gives
    // what it became, never the original next to its prepared copy.
    const known = walk.memo.get(object);
    if (known !== undefined) return known;
    walk.memo.set(object, object);
  }
  if (++walk.depth > MAX_DEPTH) {
    throw new Unsendable(`is nested more than ${MAX_DEPTH} levels deep`, true);
  }
  try {
    return prepareContainer(object, walk);
  } finally {
    walk.depth--;
  }
}

// Before the walk first goes below a container, the top value enters the
// memo (deeper containers enter it in prepareValue).
function descend(walk: Walk, object: object, current: object): void {
  if (walk.memo === undefined) walk.memo = new Map([[object, current]]);
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !ArrayBuffer.isView(value);
}

function rewritten<T extends object>(walk: Walk, object: object, copy: T): T {
  walk.memo?.set(object, copy);
  return copy;
}

function prepareContainer(object: object, walk: Walk): unknown {
  if (Array.isArray(object)) {
    let out: unknown[] | undefined;
    let i = 0;
    try {
      for (; i < object.length; i++) {
        const item: unknown = readItem(object, i);
        if (typeof item !== 'object' && typeof item !== 'function' && typeof item !== 'symbol') continue;
        if (isContainer(item)) descend(walk, object, out ?? object);
        const prepared = prepareValue(item, walk);
        if (prepared !== item) (out ??= rewritten(walk, object, [...object]))[i] = prepared;
      }
    } catch (error) {
      throw at(error, () => `[${i}]`);
    }
    return out ?? object;
  }
  const proto: unknown = Object.getPrototypeOf(object);
  if (proto === Object.prototype || proto === null) {
    const record = object as Record<string, unknown>;
    let out: Record<string, unknown> | undefined;
    let key = '';
    try {
      // for...in over a plain object gives its own enumerable string keys
      // (Object.prototype has none), without Object.entries' pair arrays.
      for (key in record) {
        const item = readItem(record, key);
        if (typeof item !== 'object' && typeof item !== 'function' && typeof item !== 'symbol') continue;
        if (isContainer(item)) descend(walk, object, out ?? object);
        const prepared = prepareValue(item, walk);
        if (prepared !== item) (out ??= rewritten(walk, object, { ...record }))[key] = prepared;
      }
    } catch (error) {
      throw at(error, () => `.${key}`);
    }
    return out ?? object;
  }
  if (object instanceof Map) {
    let out: Map<unknown, unknown> | undefined;
    let index = 0;
    let entry: [unknown, unknown] | undefined;
    let inKey = true;
    try {
      for (entry of object) {
        if (isContainer(entry[0]) || isContainer(entry[1])) descend(walk, object, out ?? object);
        inKey = true;
        const key = prepareValue(entry[0], walk);
        inKey = false;
        const item = prepareValue(entry[1], walk);
        if (!out && (key !== entry[0] || item !== entry[1])) out = rewritten(walk, object, new Map(head(object, index)));
        out?.set(key, item);
        index++;
      }
    } catch (error) {
      throw at(error, () => (inKey ? '<key>' : `.get(${String(entry?.[0])})`));
    }
    return out ?? object;
  }
  if (object instanceof Set) {
    let out: Set<unknown> | undefined;
    let index = 0;
    try {
      for (const item of object) {
        if (isContainer(item)) descend(walk, object, out ?? object);
        const prepared = prepareValue(item, walk);
        if (!out && prepared !== item) out = rewritten(walk, object, new Set(head(object, index)));
        out?.add(prepared);
        index++;
      }
    } catch (error) {
      throw at(error, () => '<item>');
    }
    return out ?? object;
  }
  if (object instanceof Error) return checkError(object);
  if (CLONEABLE_OBJECTS.some((ctor) => object instanceof ctor)) return object;
  const className = (proto as { constructor?: { name?: string } } | undefined)?.constructor?.name ?? 'unknown';
  throw new Unsendable(
    `is an instance of class ${className}; structured clone would drop its prototype and methods. Send plain data (an object, arrays, typed arrays) and rebuild the instance inside the task.`,
  );
}
// Structured clone reads an Error's name, message and stack; a getter that
// throws or a value that is not a string makes it fail.
function checkError(error: Error): Error {
  for (const key of ['name', 'message', 'stack'] as const) {
    const value = readItem(error, key);
    if (value !== undefined && typeof value !== 'string') throw new Unsendable(`is an Error whose ${key} is a ${typeof value}, not a string; structured clone cannot send it.`);
  }
  return error;
}

// Adds the step from a container to the child that failed.
function at(error: unknown, step: () => string): unknown {
  if (error instanceof Unsendable) error.path.push(step());
  return error;
}

// The first `count` entries of a Map or items of a Set, in order: what a
// copy-on-write walk had left unchanged before its first rewrite.
function head<T>(entries: Iterable<T>, count: number): T[] {
  const out: T[] = [];
  if (count === 0) return out;
  for (const entry of entries) {
    out.push(entry);
    if (out.length === count) break;
  }
  return out;
}

// One shared copy per array per call: tasks receive views on the same
// SharedArrayBuffer, so postMessage sends a handle, not the bytes. Each
// task's walk lists the copies it receives (once each), for the check after
// the task (share-guard.ts).
function shareLarge(view: ArrayBufferView, walk: Walk): ArrayBufferView {
  if (view.byteLength <= walk.maxNbytes || isSharedArrayBuffer(view.buffer)) return view;
  let entry = walk.copies!.get(view);
  if (!entry) {
    entry = copyToSharedWithDigest(view);
    walk.copies!.set(view, entry);
  }
  if (walk.guards && !walk.guards.includes(entry)) walk.guards.push(entry);
  return entry.view;
}

// A Set, so a buffer reached twice (one array in two places, two views
// spanning one buffer) is listed once: postMessage rejects duplicates.
function addTransferable(value: object, into: Set<ArrayBuffer>): void {
  if (value instanceof ArrayBuffer) into.add(value);
  else if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer) {
    if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) into.add(value.buffer);
  }
}
