/**
 * The value walk behind hash(): an explicit stack (so a value nested a
 * million deep hashes without a stack overflow) writing the tagged encoding
 * documented in hash.ts through ByteWriter.
 *
 * Three modes, so the common case costs one pass and keeps its v1 digest:
 * - `Tree`: every object is met once (no aliasing, no cycle). Objects are
 *   encoded inline, Map/Set members hashed alone and their digests sorted.
 *   The first object met twice aborts the pass (SHARED).
 * - `Merkle`: a pass that counts how often each object is met and gives each
 *   a content digest (its own encoding with child objects replaced by their
 *   digests), memoised by identity, so a DAG costs its number of distinct nodes.
 *   The digests only order Map and Set members canonically for the last pass.
 * - `Shared`: objects met more than once are written once (0x1a, then their
 *   encoding) and referred to afterwards by their number (0x19 id), numbered in
 *   a canonical traversal order: array order, object keys sorted, Map and Set
 *   members sorted by content digest. Aliasing is thus part of the key, as in
 *   joblib's pickle-based hash: `[x, x]` and `[x, copy(x)]` differ.
 */
import { ByteWriter } from './byte-writer.js';
import { HashError } from './errors.js';
import {
  accessorError, attributesOf, BINARY_KIND, bytesOf, classify, integrityOf, isIndex, Kind, refuseDetached, refuseExtraKeys,
} from './hash-kinds.js';

export const Mode = { Tree: 0, Merkle: 1, Shared: 2 } as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

const F = { Array: 0, Sparse: 1, Object: 2, Members: 3 } as const;
type F = (typeof F)[keyof typeof F];

/** One object being written: its children are emitted one per step of the loop. */
interface Frame {
  type: F;
  obj: object;
  /** Where this object's encoding starts (Merkle mode digests it from there). */
  start: number;
  /** Array elements, object values, or flattened Map entries / Set members. */
  items: unknown[];
  keys: string[] | null;
  attrs: number[] | null;
  /** Present indexes of a sparse array. */
  present: number[] | null;
  i: number;
  n: number;
  /** Values per member (Set 1, Map 2) and the member digests so far (Tree and Merkle modes). */
  per: number;
  digests: bigint[] | null;
  memberStart: number;
  /** Index of the element being written (sparse arrays). */
  at: number;
  /** Elements written before the first hole (sparse arrays). */
  dense: number;
}

/** Thrown (and caught in hash.ts) when the Tree pass meets an object twice. */
export const SHARED = Symbol('larder.hash.shared');

const INLINE_BYTES = 1024;
const EMPTY: unknown[] = [];
/** A run of holes longer than this is one 0x17 + count, so a sparse array costs its present elements, not its length. */
const HOLE_RUN = 64;
const compare = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

export class Encoder extends ByteWriter {
  mode: Mode = Mode.Tree;
  root = '$';
  /** Frames of the objects being written, `stack[0..top)`; entries past `top` are kept for reuse (frames are allocated once). */
  stack: Frame[] = [];
  top = 0;
  /** Tree: objects met. Merkle: times met. Shared: numbers given to objects met more than once. */
  seen = new Set<object>();
  counts = new Map<object, number>();
  merkle = new Map<object, bigint>();
  ids = new Map<object, number>();
  /** Content digests of large binary values, kept across passes. */
  digests = new Map<object, bigint>();
  /** xxh64 of a large view's bytes (hash.ts supplies the chunked streaming). */
  digestBytes: (bytes: Uint8Array) => bigint = () => 0n;

  reset(): void {
    this.pos = 0;
    // After an error or the SHARED restart, frames still hold the caller's values.
    for (let d = 0; d < this.top; d++) {
      const f = this.stack[d]!;
      f.obj = f.items = EMPTY;
      f.keys = f.present = f.digests = f.attrs = null;
    }
    this.top = 0;
    // Do not keep a huge stack of frames alive after one deeply nested value.
    if (this.stack.length > 1024) this.stack.length = 0;
    // Clearing empty collections is not free, and most calls never fill them.
    if (this.seen.size > 0) this.seen.clear();
    if (this.counts.size > 0) this.counts.clear();
    if (this.merkle.size > 0) this.merkle.clear();
    if (this.ids.size > 0) this.ids.clear();
    if (this.digests.size > 0) this.digests.clear();
  }

  /** Writes the whole encoding of `value` in the current mode. */
  run(value: unknown): void {
    this.value(value);
    const stack = this.stack;
    while (this.top > 0) this.step(stack[this.top - 1]!);
  }

  /** Renders where the value being written sits, like `$[2].runs[0]` (only when an error needs it). */
  path = (): string => {
    let text = this.root;
    for (let d = 0; d < this.top; d++) {
      const f = this.stack[d]!;
      if (f.type === F.Array) text += `[${f.i - 1}]`;
      else if (f.type === F.Sparse) text += `[${f.at}]`;
      else if (f.type === F.Object) text += keySegment(f.keys![f.i - 1]!);
      else {
        const member = Math.floor((f.i - 1) / f.per);
        if (f.per === 1) text += `.<set element ${member}>`;
        else if ((f.i - 1) % 2 === 0) text += `.<map key ${member}>`;
        else text += `.get(${keyLabel(f.items[f.i - 2], member)})`;
      }
    }
    return text;
  };

  value(value: unknown): void {
    switch (typeof value) {
      case 'undefined': return this.byte(0x00);
      case 'boolean': return this.byte(value ? 0x03 : 0x02);
      case 'number': this.byte(0x04); return this.f64(value);
      case 'string': this.byte(0x06); return this.str(value);
      case 'bigint': {
        this.byte(0x05);
        this.byte(value < 0n ? 1 : 0);
        return this.str((value < 0n ? -value : value).toString(16));
      }
      case 'function': throw new HashError(this.path(), `a function (${value.name || 'anonymous'})`);
      case 'symbol': throw new HashError(this.path(), `a symbol (${value.toString()})`);
      default: break;
    }
    if (value === null) return this.byte(0x01);
    this.object(value as object);
  }

  object(value: object): void {
    if (this.mode === Mode.Tree) {
      if (this.seen.has(value)) throw SHARED;
      this.seen.add(value);
    } else if (this.mode === Mode.Merkle) {
      const count = this.counts.get(value);
      if (count !== undefined) {
        this.counts.set(value, count + 1);
        const digest = this.merkle.get(value);
        // Not yet digested: it is an ancestor (a cycle); the mark only orders members.
        if (digest === undefined) return this.byte(0x0e);
        this.byte(0x18);
        return this.u64(digest);
      }
      this.counts.set(value, 1);
    } else if (this.counts.get(value)! > 1) {
      const id = this.ids.get(value);
      if (id !== undefined) {
        this.byte(0x19);
        return this.u32(id);
      }
      this.ids.set(value, this.ids.size);
      this.byte(0x1a);
    }
    const start = this.pos;
    const kind = classify(value, this.path);
    if (!Object.isExtensible(value)) {
      // Frozen, sealed or closed to new keys: a function can observe it (a write throws or is ignored).
      this.byte(0x14);
      this.byte(integrityOf(value));
    }
    switch (kind) {
      case Kind.Plain: return this.plainObject(value, start);
      case Kind.Array:
        // A read-only length (defineProperty, not freeze: frozen is in 0x14) makes push() throw: observable.
        if (Object.isExtensible(value) || !Object.isFrozen(value)) {
          if (Object.getOwnPropertyDescriptor(value, 'length')!.writable === false) this.byte(0x16);
        }
        return this.array(value as unknown[], start);
      case Kind.Map: {
        refuseExtraKeys(value, kind, this.path);
        const map = value as Map<unknown, unknown>;
        const items: unknown[] = [];
        for (const [k, v] of map) items.push(k, v);
        this.byte(0x0a);
        return this.members(value, start, items, 2);
      }
      case Kind.Set: {
        refuseExtraKeys(value, kind, this.path);
        this.byte(0x0b);
        return this.members(value, start, [...(value as Set<unknown>)], 1);
      }
      case Kind.Date:
        refuseExtraKeys(value, kind, this.path);
        this.byte(0x07);
        this.f64((value as Date).getTime());
        return this.leaf(value, start);
      case Kind.RegExp: {
        refuseExtraKeys(value, kind, this.path);
        const { lastIndex } = value as RegExp;
        // lastIndex is where the next exec() of a g/y RegExp starts: kept when it is not the initial 0.
        this.byte(lastIndex === 0 ? 0x0f : 0x13);
        this.str((value as RegExp).source);
        this.str((value as RegExp).flags);
        if (lastIndex !== 0) this.value(lastIndex);
        return this.leaf(value, start);
      }
      case Kind.Boxed:
        refuseExtraKeys(value, kind, this.path);
        this.byte(0x10);
        this.value((value as { valueOf(): unknown }).valueOf());
        return this.leaf(value, start);
      default:
        this.binary(value as ArrayBufferView | ArrayBufferLike);
        return this.leaf(value, start);
    }
  }

  /** Ends an object that has no children (Merkle mode replaces it by its digest). */
  leaf(value: object, start: number): void {
    if (this.mode === Mode.Merkle) this.seal(value, start);
  }

  /** Merkle mode: the object's encoding since `start` becomes its digest. */
  seal(value: object, start: number): void {
    const digest = this.digestSince(start);
    this.merkle.set(value, digest);
    this.byte(0x18);
    this.u64(digest);
  }

  push(type: F, obj: object, start: number, items: unknown[], n: number): Frame {
    let frame = this.stack[this.top];
    if (frame === undefined) {
      frame = { type, obj, start, items, keys: null, attrs: null, present: null, i: 0, n, per: 1, digests: null, memberStart: 0, at: 0, dense: 0 };
      this.stack.push(frame);
    } else {
      frame.type = type;
      frame.obj = obj;
      frame.start = start;
      frame.items = items;
      frame.i = 0;
      frame.n = n;
    }
    this.top++;
    return frame;
  }

  plainObject(value: object, start: number): void {
    // (classify() has refused symbol keys.)
    const keys = Object.getOwnPropertyNames(value);
    if (keys.length > 1) keys.sort();
    const values = new Array<unknown>(keys.length);
    let attrs: number[] | null = null;
    for (let k = 0; k < keys.length; k++) {
      const descriptor = Object.getOwnPropertyDescriptor(value, keys[k]!)!;
      if (!('value' in descriptor)) throw accessorError(this.path() + keySegment(keys[k]!));
      values[k] = descriptor.value;
      const bits = attributesOf(descriptor);
      if (bits !== 7) (attrs ??= new Array<number>(keys.length).fill(7))[k] = bits;
    }
    // 0x12: some property is read-only, hidden from Object.keys or non-configurable (its attributes follow its key).
    this.byte(attrs ? 0x12 : 0x09);
    this.str(Object.getPrototypeOf(value) === null ? 'null' : 'Object');
    this.u32(keys.length);
    const frame = this.push(F.Object, value, start, values, keys.length);
    frame.keys = keys;
    frame.attrs = attrs;
  }

  array(value: unknown[], start: number): void {
    this.byte(0x08);
    this.u32(value.length);
    this.push(F.Array, value, start, value, value.length);
  }

  members(value: object, start: number, items: unknown[], per: number): void {
    const size = items.length / per;
    this.u32(size);
    if (this.mode === Mode.Shared && size > 1) items = this.canonicalOrder(items, per);
    const frame = this.push(F.Members, value, start, items, items.length);
    frame.per = per;
    if (this.mode !== Mode.Shared) frame.digests = [];
  }

  /**
   * Shared mode: members sorted by content digest, so numbering does not follow insertion order.
   * Members equal in content are told apart by the number of an object already met (the one met
   * first comes first); members equal in content, none met yet, keep insertion order (at worst a
   * second entry for the same value, never another value's entry: the encoding stays exact).
   */
  canonicalOrder(items: unknown[], per: number): unknown[] {
    const members = items.length / per;
    const order = Array.from({ length: members }, (_, m) => m);
    const keys = items.map((item) => this.contentDigest(item));
    const seenAs = items.map((item) => (typeof item === 'object' && item !== null ? this.ids.get(item) ?? -1 : -1) >>> 0);
    order.sort((a, b) => {
      for (let j = 0; j < per; j++) {
        const byContent = compare(keys[a * per + j]!, keys[b * per + j]!);
        if (byContent !== 0) return byContent;
      }
      for (let j = 0; j < per; j++) {
        const byNumber = seenAs[a * per + j]! - seenAs[b * per + j]!;
        if (byNumber !== 0) return byNumber;
      }
      return 0;
    });
    return order.flatMap((m) => items.slice(m * per, m * per + per));
  }

  /** An object's Merkle digest, or a primitive's own digest. */
  contentDigest(item: unknown): bigint {
    if (typeof item === 'object' && item !== null) return this.merkle.get(item) ?? 0n;
    const start = this.pos;
    this.value(item);
    return this.digestSince(start);
  }

  /** Writes the next child of `f`, or ends `f`. */
  step(f: Frame): void {
    switch (f.type) {
      case F.Array: {
        if (f.i === f.n) return this.end(f);
        const array = f.items;
        const i = f.i++;
        const element = array[i];
        if (element === undefined && !(i in array)) {
          // The first hole: from here on, walk the present indexes only (a[1e9] = 1 is one element, not 1e9).
          f.type = F.Sparse;
          f.present = Object.getOwnPropertyNames(array).filter(isIndex).map(Number).filter((index) => index > i);
          f.dense = i;
          f.i = 0;
          f.memberStart = i;
          return;
        }
        return this.value(element);
      }
      case F.Sparse: {
        // memberStart: the first index not yet written; at: the element being written.
        const present = f.present!;
        const index = f.i < present.length ? present[f.i]! : f.n;
        if (index > f.memberStart) this.holes(index - f.memberStart);
        if (f.i === present.length) return this.end(f);
        f.i++;
        f.at = index;
        f.memberStart = index + 1;
        return this.value(f.items[index]);
      }
      case F.Object: {
        if (f.i === f.n) return this.end(f);
        const k = f.i++;
        this.str(f.keys![k]!);
        if (f.attrs) this.byte(f.attrs[k]!);
        return this.value(f.items[k]);
      }
      default: {
        if (f.digests && f.i > 0 && f.i % f.per === 0) f.digests.push(this.digestSince(f.memberStart));
        if (f.i === f.n) return this.end(f);
        if (f.i % f.per === 0) f.memberStart = this.pos;
        return this.value(f.items[f.i++]);
      }
    }
  }

  holes(run: number): void {
    if (run <= HOLE_RUN) {
      for (let h = 0; h < run; h++) this.byte(0x11);
    } else {
      this.byte(0x17);
      this.u32(run);
    }
  }

  end(f: Frame): void {
    this.top--;
    if (f.type === F.Array || f.type === F.Sparse) {
      // (Popped first: the parent's current child, which path() names, is this array.)
      refuseExtraKeys(f.obj, Kind.Array, this.path, f.type === F.Array ? f.n : f.dense + f.present!.length);
    } else if (f.digests) {
      f.digests.sort(compare);
      for (const digest of f.digests) this.u64(digest);
    }
    if (this.mode === Mode.Merkle) this.seal(f.obj, f.start);
    // A reused frame must not keep the caller's values alive.
    f.obj = f.items = EMPTY;
    f.keys = f.present = f.digests = f.attrs = null;
    f.per = 1;
  }

  binary(value: ArrayBufferView | ArrayBufferLike): void {
    refuseDetached(value, this.path);
    refuseExtraKeys(value, Kind.Binary, this.path);
    const kind = BINARY_KIND.get(Object.getPrototypeOf(value) as object)!;
    const bytes = bytesOf(value, this.path);
    const resizable = !ArrayBuffer.isView(value) && ((value as { resizable?: boolean }).resizable || (value as { growable?: boolean }).growable);
    if (resizable) {
      // A resizable buffer's limit is part of what a function can do with it.
      this.byte(0x15);
      this.f64((value as unknown as { maxByteLength: number }).maxByteLength);
    }
    const count = ArrayBuffer.isView(value) && 'length' in value && typeof value.length === 'number' ? value.length : bytes.length;
    this.byte(0x0c);
    this.byte(kind);
    this.f64(count);
    if (bytes.length <= INLINE_BYTES) {
      this.byte(0x00);
      this.u32(bytes.length);
      return this.bytes(bytes);
    }
    let digest = this.digests.get(value);
    if (digest === undefined) {
      digest = this.digestBytes(bytes);
      this.digests.set(value, digest);
    }
    this.byte(0x01);
    this.u64(digest);
  }
}

function keySegment(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function keyLabel(key: unknown, index: number): string {
  return typeof key === 'string' ? JSON.stringify(key) : typeof key === 'number' ? String(key) : `<key ${index}>`;
}
