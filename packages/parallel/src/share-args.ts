/**
 * What crosses the thread boundary. Arguments: checked for what structured
 * clone cannot send faithfully (functions, symbols, class instances), and
 * large typed arrays moved once per call into shared memory. Results: their
 * ArrayBuffers listed for transfer instead of copied.
 */
import { types } from 'node:util';
import { ParallelError } from './errors.js';

/** Per-call state: each large array is copied into shared memory once, however many tasks receive it. */
export type SharedCopies = Map<ArrayBufferView, ArrayBufferView>;

type TypedArrayCtor = new (buffer: SharedArrayBuffer, byteOffset: number, length: number) => ArrayBufferView;

const CLONEABLE_OBJECTS = [Date, RegExp, ArrayBuffer, SharedArrayBuffer, Error, Boolean, Number, String] as const;

/**
 * Returns the arguments ready to post: the same array when nothing changed.
 * Throws LARDER_UNSENDABLE naming the task index and the argument position.
 */
export function prepareArgs(args: readonly unknown[], taskIndex: number, maxNbytes: number, copies: SharedCopies): unknown[] {
  let out: unknown[] | undefined;
  for (let position = 0; position < args.length; position++) {
    const value = args[position];
    if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) continue;
    const prepared = prepareValue(value, maxNbytes, copies, new Set(), (path) => describe(taskIndex, position, path));
    if (prepared !== value) (out ??= [...args])[position] = prepared;
  }
  return out ?? (args as unknown[]);
}

function describe(taskIndex: number, position: number, path: string): string {
  return `argument ${position} of task ${taskIndex}${path ? ` (at args[${position}]${path})` : ''}`;
}

function prepareValue(value: unknown, maxNbytes: number, copies: SharedCopies, seen: Set<object>, where: (path: string) => string, path = ''): unknown {
  if (value === null) return value;
  const kind = typeof value;
  if (kind === 'function' || kind === 'symbol') {
    throw unsendable(`${where(path)} is a ${kind}, which cannot be sent to a worker thread. Pass data, or a task handle's name, and look the function up in the task.`);
  }
  if (kind !== 'object') return value;
  const object = value as object;
  if (ArrayBuffer.isView(object)) return shareLarge(object, maxNbytes, copies);
  if (seen.has(object)) return value;
  seen.add(object);
  if (Array.isArray(object)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < object.length; i++) {
      const item: unknown = object[i];
      if (item === null || (typeof item !== 'object' && typeof item !== 'function' && typeof item !== 'symbol')) continue;
      const prepared = prepareValue(item, maxNbytes, copies, seen, where, `${path}[${i}]`);
      if (prepared !== item) (out ??= [...object])[i] = prepared;
    }
    return out ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(object);
  if (proto === Object.prototype || proto === null) {
    let out: Record<string, unknown> | undefined;
    for (const [key, item] of Object.entries(object)) {
      const prepared = prepareValue(item, maxNbytes, copies, seen, where, `${path}.${key}`);
      if (prepared !== item) (out ??= { ...(object as Record<string, unknown>) })[key] = prepared;
    }
    return out ?? value;
  }
  if (object instanceof Map) {
    for (const [key, item] of object) {
      prepareValue(key, Infinity, copies, seen, where, `${path}<key>`);
      prepareValue(item, Infinity, copies, seen, where, `${path}.get(${String(key)})`);
    }
    return value;
  }
  if (object instanceof Set) {
    for (const item of object) prepareValue(item, Infinity, copies, seen, where, `${path}<item>`);
    return value;
  }
  if (CLONEABLE_OBJECTS.some((ctor) => object instanceof ctor)) return value;
  const className = (proto as { constructor?: { name?: string } } | undefined)?.constructor?.name ?? 'unknown';
  throw unsendable(
    `${where(path)} is an instance of class ${className}; structured clone would drop its prototype and methods. Send plain data (an object, arrays, typed arrays) and rebuild the instance inside the task.`,
  );
}

function unsendable(message: string): ParallelError {
  return new ParallelError('LARDER_UNSENDABLE', message);
}

// One shared copy per array per call: tasks receive views on the same
// SharedArrayBuffer, so postMessage sends a handle, not the bytes.
function shareLarge(view: ArrayBufferView, maxNbytes: number, copies: SharedCopies): ArrayBufferView {
  if (view.byteLength <= maxNbytes || types.isSharedArrayBuffer(view.buffer)) return view;
  const existing = copies.get(view);
  if (existing) return existing;
  const shared = new SharedArrayBuffer(view.byteLength);
  new Uint8Array(shared).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  const Ctor = view.constructor as TypedArrayCtor;
  const bytesPerElement = (view as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
  const copy = view instanceof DataView ? new DataView(shared) : new Ctor(shared, 0, view.byteLength / bytesPerElement);
  copies.set(view, copy);
  return copy;
}

/** Throws LARDER_UNSENDABLE when `value` holds what cannot be posted back (a function, a class instance). */
export function checkSendable(value: unknown, where: (path: string) => string): void {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) return;
  prepareValue(value, Infinity, new Map(), new Set(), where);
}

/**
 * The ArrayBuffers a result can give away: those of the result itself and of
 * its direct members (array items, object values). A view is moved only when
 * it spans its whole buffer, so a Buffer cut from Node's shared pool, or a
 * slice of a larger array, is copied instead of detaching memory still in use.
 */
export function collectTransferables(result: unknown, into: Set<ArrayBuffer>): void {
  addBuffer(result, into);
  if (Array.isArray(result)) for (const item of result) addBuffer(item, into);
  else if (typeof result === 'object' && result !== null && Object.getPrototypeOf(result) === Object.prototype) {
    for (const item of Object.values(result)) addBuffer(item, into);
  }
}

function addBuffer(value: unknown, into: Set<ArrayBuffer>): void {
  if (value instanceof ArrayBuffer) into.add(value);
  else if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer) {
    if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) into.add(value.buffer);
  }
}
