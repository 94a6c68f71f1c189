/**
 * Value → plan: walks the value once, iteratively (deep structures do not
 * overflow the stack), giving every container one node so shared references
 * and cycles become shared indices. Typed-array bytes are not copied: each
 * becomes a segment that points at the caller's memory (only the view's own
 * bytes, so a subarray stores only its elements).
 */
import { UnsupportedValueError } from './errors.js';
import { HOLE, Kind, type PlanNode } from './manifest.js';
import { bytesOf, elementCode } from './typed-arrays.js';

export interface Plan {
  root: number;
  nodes: PlanNode[];
  /** Bytes of each segment, in segment-index order; views of the caller's memory. */
  segments: Uint8Array[];
}

/** Arrays of only numbers at least this long are stored as one packed vector of doubles. */
const PACK_NUMBERS_FROM = 8;
const NEGATIVE_ZERO = Symbol('-0');

interface Pending {
  value: object;
  node: number;
  /** For an array stored sparsely: the indices of its elements, ascending. */
  present?: ArrayLike<number>;
}

/**
 * The flatbuffers Builder cannot grow past 1 GiB, and failing there would be
 * after gigabytes of work: the encoder keeps a running estimate of the
 * manifest's size and refuses the value at the node that would pass this.
 */
const MANIFEST_LIMIT = 2 ** 30 - 2 ** 24;
/** Bytes a node table and its vtable take, roughly: charged per node on top of its vectors and texts. */
const NODE_COST = 40;
/** Holes counted one by one before switching to Object.keys, which lists only the elements present. */
const HOLE_SCAN_LIMIT = 1 << 16;
/**
 * Arrays shorter than this keep the version-1 dense form whatever their holes
 * (at most 1 KiB of slots), so ordinary values stay readable by older readers.
 */
const SPARSE_FROM = 256;

export function encode(value: unknown): Plan {
  const nodes: PlanNode[] = [];
  const segments: Uint8Array[] = [];
  const seen = new Map<object, number>();
  const strings = new Map<unknown, number>();
  const numbers = new Map<unknown, number>();
  // Where each container sits, so an error deep inside can name its path.
  const parentOf: number[] = [];
  const stepOf: string[] = [];
  const pending: Pending[] = [];
  const NONE = -1;

  const add = (node: PlanNode, parent: number, step: string): number => {
    parentOf.push(parent);
    stepOf.push(step);
    return nodes.push(node) - 1;
  };
  const pathOf = (node: number, step: string): string => {
    const steps = [step];
    for (let at = node; at !== NONE; at = parentOf[at]!) steps.push(stepOf[at]!);
    return steps.reverse().join('');
  };
  const segmentOf = (view: ArrayBufferView): number => segments.push(bytesOf(view)) - 1;
  let manifestBytes = 0;
  const charge = (bytes: number, parent: number, step: string): void => {
    manifestBytes += bytes;
    if (manifestBytes > MANIFEST_LIMIT) {
      throw new UnsupportedValueError(
        pathOf(parent, step),
        'more than the format can describe',
        `the manifest (every key, string, number list and array slot) would pass ${MANIFEST_LIMIT} bytes here; store long texts and number lists as Buffers or typed arrays, which live outside it`,
      );
    }
  };
  const keyStrings = new Set<string>();

  const visit = (item: unknown, parent: number, step: string): number => {
    switch (typeof item) {
      case 'undefined':
        return constant(Kind.Undefined);
      case 'boolean':
        return constant(item ? Kind.True : Kind.False);
      case 'number':
      case 'string':
      case 'bigint': {
        // Primitives are shared by value (keys repeat a lot); -0 gets its own slot because Map keys treat it as 0.
        const key = Object.is(item, -0) ? NEGATIVE_ZERO : item;
        const table = typeof item === 'string' ? strings : numbers;
        const known = table.get(key);
        if (known !== undefined) return known;
        const node = primitive(item, segmentOf);
        charge(NODE_COST + (node.text === undefined ? 0 : Buffer.byteLength(node.text)), parent, step);
        const index = add(node, parent, step);
        table.set(key, index);
        return index;
      }
      case 'object': {
        if (item === null) return constant(Kind.Null);
        const known = seen.get(item);
        if (known !== undefined) return known;
        // The path is only built when an error needs it: walking up on every node would be quadratic.
        // Charged before the container allocates its slots: a value too big to describe fails here, not in V8.
        const { node, present } = container(item, () => pathOf(parent, step), (bytes) => charge(bytes, parent, step));
        charge(NODE_COST + 8 * (node.numbers?.length ?? 0) + keysCost(node.keys), parent, step);
        const index = add(node, parent, step);
        seen.set(item, index);
        if (node.children !== undefined) pending.push({ value: item, node: index, present });
        return index;
      }
      case 'function':
        throw new UnsupportedValueError(pathOf(parent, step), 'a function', 'store its result, or the data it closes over, instead');
      case 'symbol':
        throw new UnsupportedValueError(pathOf(parent, step), 'a symbol', 'replace it with a string');
    }
  };

  const constants = new Map<number, number>();
  const constant = (kind: PlanNode['kind']): number => {
    let index = constants.get(kind);
    if (index === undefined) {
      index = add({ kind }, NONE, '$');
      constants.set(kind, index);
    }
    return index;
  };

  const keysCost = (keys: string[] | undefined): number => {
    if (keys === undefined) return 0;
    let bytes = 4 * keys.length;
    for (const key of keys) {
      if (!keyStrings.has(key)) {
        keyStrings.add(key);
        bytes += 8 + Buffer.byteLength(key);
      }
    }
    return bytes;
  };

  const container = (item: object, path: () => string, reserve: (bytes: number) => void): { node: PlanNode; present?: ArrayLike<number> } => {
    if (Array.isArray(item)) {
      if (item.length >= PACK_NUMBERS_FROM && isAllNumbers(item)) return { node: { kind: Kind.Array, numbers: item } };
      const present = sparseIndices(item);
      // Sparse: (index, node) pairs and the length, so holes cost nothing; dense: one slot per index.
      const slots = present === undefined ? item.length : 2 * present.length;
      reserve(4 * slots);
      const children = new Uint32Array(slots);
      if (present !== undefined) return { node: { kind: Kind.SparseArray, number: item.length, children }, present };
      return { node: { kind: Kind.Array, children } };
    }
    return { node: other(item, path) };
  };

  const other = (item: object, path: () => string): PlanNode => {
    if ((ArrayBuffer.isView(item) || item instanceof ArrayBuffer) && isDetached(item)) {
      const name = (item as { constructor?: { name?: unknown } }).constructor?.name;
      throw new UnsupportedValueError(path(), `${name === 'ArrayBuffer' ? 'an ArrayBuffer' : `a ${typeof name === 'string' ? name : 'binary value'}`} that was detached (transferred)`, 'its bytes are gone: store it before transferring it (to a worker, or with structuredClone/transfer), or store a copy');
    }
    if (ArrayBuffer.isView(item)) {
      if (Buffer.isBuffer(item)) return { kind: Kind.Buffer, segment: segmentOf(item) };
      if (item instanceof DataView) return { kind: Kind.DataView, segment: segmentOf(item) };
      const element = elementCode(item);
      if (element < 0) throw unsupported(path(), item);
      return { kind: Kind.TypedArray, element, segment: segmentOf(item) };
    }
    const proto: unknown = Object.getPrototypeOf(item);
    if (proto === Object.prototype || proto === null) {
      if (Object.getOwnPropertySymbols(item).length > 0) {
        throw new UnsupportedValueError(path(), 'an object with symbol keys', 'use string keys, or a Map');
      }
      const keys = Object.keys(item);
      // A key is a UTF-8 string in the manifest, which cannot carry a lone surrogate: such objects
      // list their keys as string nodes instead, which can (see primitive()).
      if (!keys.every(isWellFormed)) return { kind: Kind.ObjectEntries, keys, children: [] };
      return { kind: Kind.Object, keys, children: [] };
    }
    if (proto === Map.prototype) return { kind: Kind.Map, children: [] };
    if (proto === Set.prototype) return { kind: Kind.Set, children: [] };
    if (proto === Date.prototype) return { kind: Kind.Date, number: (item as Date).getTime() };
    if (proto === ArrayBuffer.prototype) {
      return { kind: Kind.ArrayBuffer, segment: segments.push(new Uint8Array(item as ArrayBuffer)) - 1 };
    }
    throw unsupported(path(), item);
  };

  const root = visit(value, NONE, '$');
  // Children are filled after their container has its index, which is what lets cycles resolve.
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value: item, node: index, present } = next;
    const node = nodes[index]!;
    const children = node.children as number[];
    if (Array.isArray(item)) {
      const slots = node.children as Uint32Array;
      if (present !== undefined) {
        for (let p = 0; p < present.length; p++) {
          const i = present[p]!;
          slots[2 * p] = i;
          slots[2 * p + 1] = visit(item[i], index, `[${i}]`);
        }
      } else {
        for (let i = 0; i < item.length; i++) slots[i] = i in item ? visit(item[i], index, `[${i}]`) : HOLE;
      }
    } else if (node.kind === Kind.ObjectEntries) {
      const record = item as Record<string, unknown>;
      for (const key of node.keys!) children.push(visit(key, index, propertyStep(key)), visit(record[key], index, propertyStep(key)));
      delete node.keys; // they are nodes now, not UTF-8 strings
    } else if (item instanceof Map) {
      let i = 0;
      for (const [key, member] of item) {
        children.push(visit(key, index, `.keys()[${i}]`), visit(member, index, mapStep(key, i)));
        i++;
      }
    } else if (item instanceof Set) {
      let i = 0;
      for (const member of item) children.push(visit(member, index, `.values()[${i++}]`));
    } else {
      const record = item as Record<string, unknown>;
      for (const key of nodes[index]!.keys!) children.push(visit(record[key], index, propertyStep(key)));
    }
    if (!Array.isArray(item)) charge(4 * children.length, index, '');
  }
  return { root, nodes, segments };
}

function primitive(item: number | string | bigint, segmentOf: (view: ArrayBufferView) => number): PlanNode {
  if (typeof item === 'number') return { kind: Kind.Number, number: item };
  if (typeof item === 'bigint') return { kind: Kind.BigInt, text: item < 0n ? `-${(-item).toString(16)}` : item.toString(16) };
  if (isWellFormed(item)) return { kind: Kind.String, text: item };
  // UTF-8 cannot carry a lone surrogate; such strings keep their UTF-16 code units in a segment.
  const units = new Uint16Array(item.length);
  for (let i = 0; i < item.length; i++) units[i] = item.charCodeAt(i);
  return { kind: Kind.StringUtf16, segment: segmentOf(units) };
}

/** Whether a string is valid Unicode (no lone surrogate), so UTF-8 carries it exactly. */
function isWellFormed(text: string): boolean {
  // String.prototype.isWellFormed is on Node 20 (V8 11.3) but not in the ES2023 lib typings.
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * The indices of an array's elements when storing them as (index, node) pairs
 * is smaller than one slot per index, i.e. when fewer than half are present;
 * undefined for the dense form. Never walks more than the elements present
 * plus {@link HOLE_SCAN_LIMIT} holes, so `a.length = 2 ** 32 - 1` costs
 * nothing.
 */
function sparseIndices(array: unknown[]): ArrayLike<number> | undefined {
  const length = array.length;
  if (length < SPARSE_FROM) return undefined;
  let holes = 0;
  for (let i = 0; i < length; i++) {
    if (!(i in array) && ++holes > HOLE_SCAN_LIMIT) return sparseFromKeys(array);
  }
  if (2 * holes <= length) return undefined;
  const present = new Uint32Array(length - holes);
  for (let i = 0, p = 0; i < length; i++) if (i in array) present[p++] = i;
  return present;
}

/** Object.keys lists a holey array's index keys first, ascending, and only those present. */
function sparseFromKeys(array: unknown[]): ArrayLike<number> | undefined {
  const keys = Object.keys(array);
  const present: number[] = [];
  for (const key of keys) {
    const index = Number(key);
    if (!(Number.isInteger(index) && index >= 0 && index < array.length && String(index) === key)) break;
    present.push(index);
  }
  return 2 * present.length < array.length ? present : undefined;
}

function isAllNumbers(items: unknown[]): items is number[] {
  for (let i = 0; i < items.length; i++) if (typeof items[i] !== 'number' || !(i in items)) return false;
  return true;
}

/** Whether a view's or an ArrayBuffer's buffer was detached (transferred): its bytes are gone, and reading them throws a TypeError. */
function isDetached(item: ArrayBufferView | ArrayBuffer): boolean {
  try {
    // A detached buffer and its typed arrays have no bytes (a DataView's byteLength throws instead).
    if (item.byteLength !== 0) return false;
    new Uint8Array(ArrayBuffer.isView(item) ? item.buffer : item, 0, 0);
    return false;
  } catch {
    return true;
  }
}

function unsupported(path: string, item: object): UnsupportedValueError {
  const name = (item as { constructor?: { name?: unknown } }).constructor?.name;
  const what = typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a custom prototype';
  return new UnsupportedValueError(
    path,
    `${what} instance`,
    'store-fs keeps data only (plain objects, arrays, Map, Set, Date, typed arrays...); convert it to plain data first',
  );
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function propertyStep(key: string): string {
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function mapStep(key: unknown, index: number): string {
  if (typeof key === 'string') return `.get(${JSON.stringify(key)})`;
  if (typeof key === 'number' || typeof key === 'boolean') return `.get(${String(key)})`;
  return `.values()[${index}]`;
}
