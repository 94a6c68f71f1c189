/**
 * How values travel in BullMQ jobs. Redis holds strings: a value is written
 * with Node's structured serializer (v8.serialize: the values structured
 * clone sends to a thread, typed arrays as bytes, Maps, Sets, Dates, shared
 * references and cycles kept) and sent as base64. Typed arrays above
 * `maxNbytes` never go into Redis: they are put in the pool's blob store and
 * the value carries their key in their place (a {@link BlobRef}); the other
 * side reads them back. BullMQ's own JSON would turn a Float64Array into
 * `{"0":...}` and 80 MB into ~450 MB of Redis memory.
 */
import { deserialize, serialize } from 'node:v8';
import { types } from 'node:util';

const BLOB = '\u0000larder.blob';

/** A typed array left in the blob store, by key. */
export interface BlobRef {
  [BLOB]: string;
}

/** Whether `value` stands for a typed array in the store. */
export function isBlobRef(value: unknown): value is BlobRef {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[BLOB] === 'string';
}

/** A value as a string for job data or a job's return value. */
export function encodeValue(value: unknown): string {
  return serialize(value).toString('base64');
}

/** The value {@link encodeValue} wrote. */
export function decodeValue(text: string): unknown {
  return deserialize(Buffer.from(text, 'base64'));
}

/** Typed arrays (not DataViews: the store keeps typed arrays) over `maxNbytes`, found anywhere in `value`. */
export function largeArrays(value: unknown, maxNbytes: number): ArrayBufferView[] {
  if (maxNbytes === Infinity) return [];
  return findLeaves(value, (node) => types.isTypedArray(node) && node.byteLength > maxNbytes) as ArrayBufferView[];
}

/**
 * `value` with each of its typed arrays over `maxNbytes` put in the store
 * through `put` (which gives the key) and replaced by a {@link BlobRef}.
 * The same value when there is none.
 */
export async function externalize(value: unknown, maxNbytes: number, put: (array: ArrayBufferView) => Promise<string>): Promise<unknown> {
  const arrays = largeArrays(value, maxNbytes);
  if (arrays.length === 0) return value;
  const keys = await Promise.all(arrays.map(put));
  const replacements = new Map<object, unknown>(arrays.map((array, i) => [array, { [BLOB]: keys[i]! } satisfies BlobRef]));
  return copyReplacing(value, replacements);
}

/** `value` with each {@link BlobRef} replaced by the array `get` reads. The same value when there is none. */
export async function internalize(value: unknown, get: (key: string) => Promise<unknown>): Promise<unknown> {
  const refs = findLeaves(value, isBlobRef) as BlobRef[];
  if (refs.length === 0) return value;
  const arrays = await Promise.all(refs.map((ref) => get(ref[BLOB])));
  return copyReplacing(value, new Map<object, unknown>(refs.map((ref, i) => [ref, arrays[i]])));
}

/**
 * The objects in `value` (through arrays, plain objects, Maps and Sets) for
 * which `isLeaf` holds, each once. Iterative: a value flattened for being
 * deep (deep-values.ts) is wide, but a result may still be deep.
 */
function findLeaves(value: unknown, isLeaf: (node: object) => boolean): object[] {
  const found: object[] = [];
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null || seen.has(node)) continue;
    seen.add(node);
    if (isLeaf(node)) found.push(node);
    else if (Array.isArray(node)) stack.push(...node);
    else if (node instanceof Map) for (const [key, item] of node) stack.push(key, item);
    else if (node instanceof Set) stack.push(...node);
    else if (isPlainObject(node)) for (const key in node) stack.push((node as Record<string, unknown>)[key]);
  }
  return found;
}

function isPlainObject(node: object): boolean {
  const proto: unknown = Object.getPrototypeOf(node);
  return proto === Object.prototype || proto === null;
}

/**
 * A copy of the containers of `value` with the objects in `replacements`
 * swapped; objects reached twice stay one object, cycles stay cycles (each
 * copy enters `memo` before its children are filled).
 */
function copyReplacing(value: unknown, replacements: Map<object, unknown>, memo = new Map<object, unknown>()): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (replacements.has(value)) return replacements.get(value);
  const known = memo.get(value);
  if (known !== undefined) return known;
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array<unknown>(value.length);
    memo.set(value, copy);
    for (let i = 0; i < value.length; i++) copy[i] = copyReplacing(value[i], replacements, memo);
    return copy;
  }
  if (value instanceof Map) {
    const copy = new Map<unknown, unknown>();
    memo.set(value, copy);
    for (const [key, item] of value) copy.set(copyReplacing(key, replacements, memo), copyReplacing(item, replacements, memo));
    return copy;
  }
  if (value instanceof Set) {
    const copy = new Set<unknown>();
    memo.set(value, copy);
    for (const item of value) copy.add(copyReplacing(item, replacements, memo));
    return copy;
  }
  if (isPlainObject(value)) {
    const copy: Record<string, unknown> = Object.create(Object.getPrototypeOf(value) as object | null) as Record<string, unknown>;
    memo.set(value, copy);
    for (const key in value) copy[key] = copyReplacing((value as Record<string, unknown>)[key], replacements, memo);
    return copy;
  }
  return value;
}
