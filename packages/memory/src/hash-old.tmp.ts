/**
 * `hash(value)`: a canonical, stable xxh64 digest of a value's content.
 *
 * The value is first written as a compact tagged byte encoding (below), then
 * the encoding is hashed once with xxh64 (seed 0). Large typed arrays are not
 * copied into the encoding: their bytes are streamed through xxh64 in 256 KiB
 * chunks (so memory stays flat and each chunk is hot in cache when the wasm
 * reads it) and only their 8-byte digest enters the encoding.
 *
 * Encoding, version 1 (all integers little-endian). `str` is u32 UTF-8 length +
 * bytes; a string that is not well-formed UTF-16 (it holds a lone surrogate,
 * which UTF-8 cannot carry: TextEncoder would write U+FFFD for it) is instead
 * u32 0xffffffff (never a UTF-8 length) + u32 code-unit count + its UTF-16LE
 * code units, so '\uD800', '\uDC00' and '\uFFFD' all differ.
 *
 * | tag  | value                | followed by                                                    |
 * |------|----------------------|----------------------------------------------------------------|
 * | 0x00 | undefined            | —                                                              |
 * | 0x01 | null                 | —                                                              |
 * | 0x02 / 0x03 | false / true  | —                                                              |
 * | 0x04 | number               | f64 bits; -0 kept, every NaN written as 0x7ff8000000000000      |
 * | 0x05 | bigint               | sign byte (0 / 1), str of the magnitude in hex                  |
 * | 0x06 | string               | str                                                            |
 * | 0x07 | Date                 | f64 of getTime() (an invalid Date is NaN)                       |
 * | 0x08 | Array                | u32 length, each element (a hole is 0x11)                       |
 * | 0x09 | object               | str 'Object', u32 count, then for each own enumerable string key in code-unit order: str key, value |
 * | 0x0a | Map                  | u32 size, the entries' 8-byte digests sorted (each digest hashes key then value encoded alone) |
 * | 0x0b | Set                  | u32 size, the elements' 8-byte digests sorted                   |
 * | 0x0c | binary               | kind byte (see KIND), f64 element count, then either 0x00 u32 byteLength + bytes (byteLength ≤ 1024) or 0x01 + xxh64 digest of the bytes (larger) |
 * | 0x0e | back-reference       | u32 distance to the ancestor it points at (a cycle)             |
 * | 0x0f | RegExp               | str source, str flags                                           |
 * | 0x10 | boxed primitive      | the primitive's encoding                                        |
 * | 0x11 | array hole           | — (`[, 1]` is not `[undefined, 1]`)                             |
 *
 * Objects are data only: a plain or null-prototype object, an Array, Map, Set,
 * Date, RegExp, boxed primitive or binary value, each with exactly its own
 * built-in prototype. Anything else (a class instance such as URL, Error or
 * Blob, a subclass of Map or Array) is a HashError: its state lives in private
 * fields, internal slots or prototype getters that hashing own keys cannot
 * see, so two different instances would hash alike. So is an array with own
 * non-index keys (a RegExp match), whose extra keys the encoding has no room for.
 *
 * Only the bytes a view covers are hashed, never the rest of its buffer.
 * A value met twice outside a cycle is encoded twice (the hash is of content,
 * not of aliasing), but a large typed array met twice is hashed once.
 */
import xxhash from 'xxhash-wasm';
import { inspect } from 'node:util';
import { ByteWriter } from './byte-writer-old.tmp.js';
import { HashError } from './errors.js';

const xx = await xxhash();

/** Binary kinds: the same bytes under a different kind hash differently. */
const KIND = new Map<unknown, number>([
  [Int8Array, 1], [Uint8Array, 2], [Uint8ClampedArray, 3], [Int16Array, 4], [Uint16Array, 5],
  [Int32Array, 6], [Uint32Array, 7], [Float32Array, 8], [Float64Array, 9], [BigInt64Array, 10],
  [BigUint64Array, 11], [Buffer, 12], [DataView, 13], [ArrayBuffer, 14],
]);
if (typeof SharedArrayBuffer === 'function') KIND.set(SharedArrayBuffer, 15);
const float16 = (globalThis as { Float16Array?: unknown }).Float16Array;
if (typeof float16 === 'function') KIND.set(float16, 16);

type Segment = number | string | { label: string };

const INLINE_BYTES = 1024;
const CHUNK_BYTES = 256 * 1024;

/** The value walk: writes a value's tagged encoding with the primitives of ByteWriter. */
class Encoder extends ByteWriter {
  /** Objects on the path from the root to the value being written: the only refs that can form a cycle. */
  ancestors = new Map<object, number>();
  depth = 0;
  /** Digests of large binary views already met in this call. */
  digests = new Map<object, bigint>();
  /** Where the value being written sits: array indexes, object keys, or labels for Map/Set members. */
  segments: Segment[] = [];
  root = '$';

  reset(): void {
    this.pos = 0;
    this.depth = 0;
    // Clearing empty maps is not free, and most calls never fill them.
    if (this.ancestors.size > 0) this.ancestors.clear();
    if (this.digests.size > 0) this.digests.clear();
    this.segments.length = 0;
  }

  /** Renders the current position like `$[2].runs[0]` (only when an error needs it). */
  path(): string {
    let text = this.root;
    for (const segment of this.segments) {
      if (typeof segment === 'number') text += `[${segment}]`;
      else if (typeof segment === 'string') text += /^[A-Za-z_$][\w$]*$/.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`;
      else text += segment.label;
    }
    return text;
  }

  /** Writes `value` with `segment` pushed on the path. */
  child(value: unknown, segment: Segment): void {
    this.segments.push(segment);
    this.value(value);
    this.segments.pop();
  }

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
    const ancestor = this.ancestors.get(value);
    if (ancestor !== undefined) {
      this.byte(0x0e);
      return this.u32(this.depth - ancestor);
    }
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && value instanceof SharedArrayBuffer)) {
      return this.binary(value);
    }
    // Each kind is recognised by its exact built-in prototype: a subclass (or any class) may hold
    // state the encoding below does not see, and would collide with its plain counterpart.
    const proto = Object.getPrototypeOf(value) as object | null;
    this.ancestors.set(value, ++this.depth);
    try {
      if (proto === Object.prototype || proto === null) {
        this.plainObject(value as Record<string, unknown>);
      } else if (Array.isArray(value) && Array.isArray(proto)) {
        // (Array.prototype is itself an array, in every realm; a subclass's prototype is not.)
        this.array(value);
      } else if (proto === Map.prototype) {
        const map = value as Map<unknown, unknown>;
        this.byte(0x0a);
        this.unordered(map.size, map.entries(), ([k, v], i) => {
          this.child(k, { label: `.<map key ${i}>` });
          this.child(v, { label: `.get(${keyLabel(k, i)})` });
        });
      } else if (proto === Set.prototype) {
        const set = value as Set<unknown>;
        this.byte(0x0b);
        this.unordered(set.size, set.values(), (v, i) => this.child(v, { label: `.<set element ${i}>` }));
      } else if (proto === Date.prototype) {
        this.byte(0x07);
        this.f64((value as Date).getTime());
      } else if (proto === RegExp.prototype) {
        this.byte(0x0f);
        this.str((value as RegExp).source);
        this.str((value as RegExp).flags);
      } else if (proto === Number.prototype || proto === String.prototype || proto === Boolean.prototype || proto === BigInt.prototype) {
        this.byte(0x10);
        this.value((value as { valueOf(): unknown }).valueOf());
      } else if (value instanceof Promise || value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) {
        throw new HashError(this.path(), `a ${value.constructor.name}`);
      } else {
        throw new HashError(this.path(), `an instance of class ${className(proto)}`, CLASS_ADVICE);
      }
    } finally {
      this.ancestors.delete(value);
      this.depth--;
    }
  }

  array(value: unknown[]): void {
    this.byte(0x08);
    this.u32(value.length);
    let holes = 0;
    for (let i = 0; i < value.length; i++) {
      const element = value[i];
      if (element === undefined && !Object.hasOwn(value, i)) {
        holes++;
        this.byte(0x11);
      } else {
        this.child(element, i);
      }
    }
    if (hasNonIndexKeys(value, value.length - holes)) {
      const extra = Object.keys(value).filter((key) => !isIndex(key));
      throw new HashError(this.path(), `an array with own non-index keys (${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''})`, ARRAY_ADVICE);
    }
  }

  plainObject(value: Record<string, unknown>): void {
    const keys = Object.keys(value);
    if (keys.length > 1) keys.sort();
    this.byte(0x09);
    this.str('Object');
    this.u32(keys.length);
    for (const key of keys) {
      this.str(key);
      this.child(value[key], key);
    }
  }

  unordered<T>(size: number, items: Iterable<T>, write: (item: T, index: number) => void): void {
    this.u32(size);
    const digests: bigint[] = [];
    let index = 0;
    for (const item of items) {
      const start = this.pos;
      write(item, index++);
      digests.push(this.digestSince(start));
    }
    digests.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const digest of digests) this.u64(digest);
  }

  binary(value: ArrayBufferView | ArrayBufferLike): void {
    const ctor = Buffer.isBuffer(value) ? Buffer : (value as object).constructor;
    const kind = KIND.get(ctor);
    if (kind === undefined) throw new HashError(this.path(), `a binary value of unknown kind (${(value as object).constructor.name})`);
    const bytes = ArrayBuffer.isView(value)
      ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
      : new Uint8Array(value);
    const count = 'length' in value && typeof value.length === 'number' ? value.length : bytes.length;
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
      digest = streamDigest(bytes);
      this.digests.set(value, digest);
    }
    this.byte(0x01);
    this.u64(digest);
  }
}

const CLASS_ADVICE = 'hash() takes plain data (objects, arrays, Map, Set, Date, typed arrays...), and a class instance keeps state it cannot see ' +
  '(private fields, internal slots, getters), so two different instances would hash alike. ' +
  'Pass plain data instead (e.g. url.href, { message: error.message }), or use the `key` option to hash what identifies the call.';
const ARRAY_ADVICE = 'its extra keys would not be part of the hash. Pass a plain array and put the extra values beside it, or use the `key` option.';
/** Below this length an array's keys are listed outright; above, util.inspect proves their absence in O(1) first. */
const KEYS_CHECK_LENGTH = 1024;
const NO_ELEMENTS = { maxArrayLength: 0, depth: 0, customInspect: false, getters: false, showProxy: false, breakLength: Infinity } as const;

function className(proto: object): string {
  const ctor = (proto as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name ? ctor.name : '(anonymous)';
}

const isIndex = (key: string): boolean => String(Number(key) >>> 0) === key && key !== '4294967295';

/**
 * Whether `array` has own enumerable string keys besides its `elements` present indexes.
 * Object.keys lists every index as a string (about 100 ns each), five times the cost of
 * hashing a number element; util.inspect with no elements shown reads only the non-index
 * keys (through V8's index-skipping key collection), so for a long array its bare
 * "[ ... n more items ]" proves there are none. Any other output is checked exactly.
 */
function hasNonIndexKeys(array: unknown[], elements: number): boolean {
  if (array.length >= KEYS_CHECK_LENGTH && /^\[ \.\.\. \d+ more items? \]$/.test(inspect(array, NO_ELEMENTS))) return false;
  return Object.keys(array).length !== elements;
}
const shared = new Encoder();
let sharedBusy = false;

function keyLabel(key: unknown, index: number): string {
  return typeof key === 'string' ? JSON.stringify(key) : typeof key === 'number' ? String(key) : `<key ${index}>`;
}

/** xxh64 of `bytes`, fed to the wasm in fixed chunks so its memory never grows past one chunk. */
function streamDigest(bytes: Uint8Array): bigint {
  const state = xx.create64(0n);
  for (let offset = 0; offset < bytes.length; offset += CHUNK_BYTES) {
    state.update(bytes.subarray(offset, Math.min(offset + CHUNK_BYTES, bytes.length)));
  }
  return state.digest();
}

/** Hex of a 64-bit digest, always 16 lowercase characters. */
function toHex(digest: bigint): string {
  return digest.toString(16).padStart(16, '0');
}

/**
 * Hashes `value` by content into 16 lowercase hex characters (xxh64 of a
 * canonical encoding, documented in the README and at the top of hash.ts).
 * Object keys, Map entries and Set elements are order-insensitive; typed
 * arrays hash their kind, length and view bytes; -0 ≠ 0; every NaN is one NaN;
 * cycles are fine; `[, 1]` is not `[undefined, 1]`. Functions, symbols, promises,
 * weak collections, class instances (URL, Error, your classes) and arrays with
 * extra keys throw a {@link HashError} whose `path` says where they sit (`root`
 * names the value in it).
 *
 * @example
 * ```ts
 * import { hash } from '@larder/memory';
 * hash({ a: 1, b: [1, 2] }) === hash({ b: [1, 2], a: 1 }); // true
 * hash(new Float64Array([1])) !== hash([1]);               // true
 * ```
 */
export function hash(value: unknown, root = '$'): string {
  return toHex(hashBigInt(value, root));
}

/** {@link hash} as the raw 64-bit digest. */
function hashBigInt(value: unknown, root = '$'): bigint {
  // A getter run during encoding may call hash() again: give it its own encoder.
  const enc = sharedBusy ? new Encoder() : shared;
  const ownsShared = enc === shared;
  if (ownsShared) sharedBusy = true;
  try {
    // A fresh encoder is empty, and the shared one is emptied after each use (below).
    enc.root = root;
    enc.value(value);
    return enc.digestSince(0);
  } finally {
    if (ownsShared) {
      sharedBusy = false;
      // So the shared encoder holds no reference to the caller's values (digests of its arrays) between calls.
      enc.reset();
      // Do not keep a huge encoding buffer alive after one giant string.
      enc.shrink(1 << 20);
    }
  }
}

/** xxh64 (seed 0) of a string's UTF-8 bytes, as 16 hex characters. */
export function hashString(text: string): string {
  return xx.h64ToString(text, 0n);
}
