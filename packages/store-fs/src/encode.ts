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
}

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
        const index = add(primitive(item, segmentOf), parent, step);
        table.set(key, index);
        return index;
      }
      case 'object': {
        if (item === null) return constant(Kind.Null);
        const known = seen.get(item);
        if (known !== undefined) return known;
        // The path is only built when an error needs it: walking up on every node would be quadratic.
        const node = container(item, () => pathOf(parent, step));
        const index = add(node, parent, step);
        seen.set(item, index);
        if (node.children !== undefined) pending.push({ value: item, node: index });
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

  const container = (item: object, path: () => string): PlanNode => {
    if (Array.isArray(item)) {
      if (item.length >= PACK_NUMBERS_FROM && isAllNumbers(item)) return { kind: Kind.Array, numbers: item };
      return { kind: Kind.Array, children: [] };
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
      return { kind: Kind.Object, keys: Object.keys(item), children: [] };
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
    const { value: item, node: index } = next;
    const children = nodes[index]!.children!;
    if (Array.isArray(item)) {
      for (let i = 0; i < item.length; i++) children.push(i in item ? visit(item[i], index, `[${i}]`) : HOLE);
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
  }
  return { root, nodes, segments };
}

function primitive(item: number | string | bigint, segmentOf: (view: ArrayBufferView) => number): PlanNode {
  if (typeof item === 'number') return { kind: Kind.Number, number: item };
  if (typeof item === 'bigint') return { kind: Kind.BigInt, text: item < 0n ? `-${(-item).toString(16)}` : item.toString(16) };
  // String.prototype.isWellFormed is on Node 20 (V8 11.3) but not in the ES2023 lib typings.
  if ((item as string & { isWellFormed(): boolean }).isWellFormed()) return { kind: Kind.String, text: item };
  // UTF-8 cannot carry a lone surrogate; such strings keep their UTF-16 code units in a segment.
  const units = new Uint16Array(item.length);
  for (let i = 0; i < item.length; i++) units[i] = item.charCodeAt(i);
  return { kind: Kind.StringUtf16, segment: segmentOf(units) };
}

function isAllNumbers(items: unknown[]): items is number[] {
  for (let i = 0; i < items.length; i++) if (typeof items[i] !== 'number' || !(i in items)) return false;
  return true;
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
