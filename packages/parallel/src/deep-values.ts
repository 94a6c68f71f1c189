/**
 * Values nested deeper than structured clone can go (it recurses on the
 * native stack). Such a value is flattened, without recursion, into a tape
 * of shallow nodes — one per array, plain object, Map or Set, children named
 * by node index — which structured clone sends easily, and rebuilt on the
 * other side, shared references and cycles kept. Leaves (typed arrays,
 * ArrayBuffers, Dates, RegExps, Errors) are passed to `leaf`, so large
 * arrays still go through shared memory and result buffers still move.
 */
import { isProxy } from 'node:util/types';

const DEEP = '\u0000larder.deep';

/** A value that may hold a node reference or a leaf. */
type Slot = number | { v: unknown };
type Node = { k: 's' | 'm'; n: Slot[] } | { k: 'o'; keys: string[]; n: Slot[] } | { k: 'a'; length: number; keys: string[]; n: Slot[] };

/** The flattened form of a deep value. */
export interface DeepTape {
  [DEEP]: true;
  nodes: Node[];
  root: Slot;
}

/** Whether `value` is a tape made by {@link encodeDeep}. */
export function isDeepTape(value: unknown): value is DeepTape {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[DEEP] === true;
}

/**
 * Flattens `value`. `leaf` sees every non-container object and returns what
 * to send in its place; `refuse(what, value)` throws for what cannot be sent.
 */
export function encodeDeep(value: unknown, leaf: (object: object) => unknown, refuse: (what: string) => never): DeepTape {
  const nodes: Node[] = [];
  const index = new Map<object, number>();
  const pending: Array<[object, Node]> = [];
  const slot = (item: unknown): Slot => {
    const kind = typeof item;
    if (kind === 'function' || kind === 'symbol') return refuse(`holds a ${kind}, which cannot be sent to a worker thread`);
    if (kind !== 'object' || item === null) return { v: item };
    const object = item as object;
    if (isProxy(object)) return refuse('holds a Proxy, which structured clone cannot send');
    const known = index.get(object);
    if (known !== undefined) return known;
    const proto: unknown = Object.getPrototypeOf(object);
    let node: Node;
    if (Array.isArray(object)) node = { k: 'a', length: object.length, keys: [], n: [] };
    else if (proto === Object.prototype || proto === null) node = { k: 'o', keys: [], n: [] };
    else if (object instanceof Map) node = { k: 'm', n: [] };
    else if (object instanceof Set) node = { k: 's', n: [] };
    else return { v: leaf(object) };
    index.set(object, nodes.length);
    nodes.push(node);
    pending.push([object, node]);
    return nodes.length - 1;
  };
  const root = slot(value);
  while (pending.length > 0) {
    const [object, node] = pending.pop()!;
    // Own keys only, as structured clone sends them: an array's holes stay holes (a sparse array
    // costs its elements, not its length) and nothing inherited is picked up.
    if (node.k === 'a' || node.k === 'o') {
      for (const key of Object.keys(object)) {
        node.keys.push(key);
        node.n.push(slot((object as Record<string, unknown>)[key]));
      }
    } else if (node.k === 'm') for (const [key, item] of object as Map<unknown, unknown>) node.n.push(slot(key), slot(item));
    else for (const item of object as Set<unknown>) node.n.push(slot(item));
  }
  return { [DEEP]: true, nodes, root };
}

/** Rebuilds what {@link encodeDeep} flattened: every container first, then their contents. */
export function decodeDeep(tape: DeepTape): unknown {
  const made = tape.nodes.map((node): object => (node.k === 'a' ? new Array(node.length) : node.k === 'o' ? {} : node.k === 'm' ? new Map() : new Set()));
  const value = (slot: Slot): unknown => (typeof slot === 'number' ? made[slot] : slot.v);
  tape.nodes.forEach((node, i) => {
    const target = made[i]!;
    // defineProperty, not assignment: an own '__proto__' key must stay a key, never become the prototype.
    if (node.k === 'a' || node.k === 'o') node.keys.forEach((key, j) => Object.defineProperty(target, key, { value: value(node.n[j]!), writable: true, enumerable: true, configurable: true }));
    else if (node.k === 'm') for (let j = 0; j < node.n.length; j += 2) (target as Map<unknown, unknown>).set(value(node.n[j]!), value(node.n[j + 1]!));
    else for (const slot of node.n) (target as Set<unknown>).add(value(slot));
  });
  return value(tape.root);
}
