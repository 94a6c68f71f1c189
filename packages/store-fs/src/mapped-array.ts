/**
 * MappedArray: a read-only, lazily read typed array over a region of a file.
 * Every access is a synchronous positioned read of only the bytes asked for,
 * so it works on arrays larger than memory. It is deliberately not a
 * TypedArray: turning it into one is an explicit `toArray()` or `slice()`.
 */
import { constants as bufferConstants } from 'node:buffer';
import { checksum, streamingChecksum } from './checksum.js';
import { badOption, codedError, FormatError } from './errors.js';
import type { MappedFile } from './mapped-file.js';
import { bytesOf, type ElementOf, type TypedArray, type TypedArrayConstructor } from './typed-arrays.js';

/** at() reads and keeps one block of this many bytes, so sequential at() calls rarely touch the disk. */
const BLOCK = 64 * 1024;

/**
 * A typed array that stays in its file. Returned by `load(path, { mmap: 'r' })`
 * for typed arrays of at least `mmapThreshold` bytes.
 *
 * @example
 * ```ts
 * import { dumpSync, loadSync, MappedArray } from '@larder/store-fs';
 * dumpSync({ x: new Float64Array(1_000_000).fill(1.5) }, '/tmp/m.larder');
 * const { x } = loadSync<{ x: MappedArray<Float64Array> }>('/tmp/m.larder', { mmap: 'r' });
 * console.log(x.length, x.at(-1), x.slice(0, 3)); // 1000000 1.5 Float64Array(3) [1.5, 1.5, 1.5]
 * for (const chunk of x.chunks(65536)) void chunk; // Float64Array pieces
 * x.close();
 * ```
 */
export class MappedArray<T extends TypedArray = TypedArray> {
  /** Number of elements. */
  readonly length: number;
  /** Size in bytes (length × BYTES_PER_ELEMENT). */
  readonly byteLength: number;
  /** The typed-array constructor the elements belong to, e.g. Float64Array. */
  readonly type: TypedArrayConstructor<T>;
  readonly #file: MappedFile;
  readonly #position: number;
  readonly #checksum: bigint;
  #blockStart = -1;
  #block: T | undefined;

  /** @internal Created by load(); not meant to be constructed by users. */
  constructor(file: MappedFile, type: TypedArrayConstructor<T>, position: number, length: number, checksum: bigint) {
    this.#file = file;
    this.type = type;
    this.#position = position;
    this.length = length;
    this.byteLength = length * type.BYTES_PER_ELEMENT;
    this.#checksum = checksum;
  }

  get [Symbol.toStringTag](): string {
    return 'MappedArray';
  }

  /** Bytes per element of the underlying kind. */
  get BYTES_PER_ELEMENT(): number {
    return this.type.BYTES_PER_ELEMENT;
  }

  /** The element at `index` (negative counts from the end), or undefined outside the array. */
  at(index: number): ElementOf<T> | undefined {
    this.#file.assertOpen();
    // As TypedArray.prototype.at: NaN and non-numbers count as 0.
    let i = Math.trunc(index) || 0;
    if (i < 0) i += this.length;
    if (!(i >= 0 && i < this.length)) return undefined;
    const size = this.type.BYTES_PER_ELEMENT;
    const byte = i * size;
    const blockStart = byte - (byte % BLOCK);
    if (blockStart !== this.#blockStart || this.#block === undefined) {
      const bytes = Math.min(BLOCK, this.byteLength - blockStart);
      this.#block = this.#read(blockStart, bytes / size);
      this.#blockStart = blockStart;
    }
    return this.#block[(byte - blockStart) / size] as ElementOf<T>;
  }

  /** A new typed array with elements `start` to `end` (TypedArray.prototype.slice semantics). */
  slice(start = 0, end = this.length): T {
    const from = clamp(start, this.length);
    const to = Math.max(from, clamp(end, this.length));
    return this.#read(from * this.type.BYTES_PER_ELEMENT, to - from);
  }

  /** The whole array read into memory, its checksum verified (unless the load had `verify: false`). */
  toArray(): T {
    if (this.byteLength > bufferConstants.MAX_LENGTH) {
      throw codedError(RangeError, 'LARDER_TOO_LARGE', `this MappedArray holds ${this.byteLength} bytes, more than one typed array can; read it with slice() or chunks()`);
    }
    const whole = this.#read(0, this.length);
    if (this.#file.verify) this.#check(checksum(bytesOf(whole)));
    return whole;
  }

  /** Iterates the array in fresh typed arrays of at most `size` elements. */
  *chunks(size = 65536): Generator<T, void, undefined> {
    if (!Number.isSafeInteger(size) || size < 1) throw badOption('chunk size', 'a positive integer', size);
    for (let start = 0; start < this.length; start += size) yield this.slice(start, Math.min(start + size, this.length));
  }

  /** Reads the whole array in pieces and checks its xxh64 checksum; throws FormatError on a mismatch. */
  verify(): void {
    const hasher = streamingChecksum();
    const step = Math.max(1, Math.floor((4 * 1024 * 1024) / this.type.BYTES_PER_ELEMENT));
    for (const chunk of this.chunks(step)) hasher.update(bytesOf(chunk));
    this.#check(hasher.digest());
  }

  /** Closes the file shared by every MappedArray of the same load; they all stop working. */
  close(): void {
    this.#file.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #read(byteOffset: number, length: number): T {
    const array = new this.type(length);
    this.#file.read(new Uint8Array(array.buffer, 0, array.byteLength), this.#position + byteOffset);
    return array;
  }

  #check(digest: bigint): void {
    if (digest !== this.#checksum) throw new FormatError('a mapped array checksum mismatch: the file is corrupt', { file: this.#file.path });
  }
}

function clamp(index: number, length: number): number {
  const i = Math.trunc(index) || 0;
  return i < 0 ? Math.max(0, length + i) : Math.min(i, length);
}

/**
 * What a `load(path, { mmap: 'r' })` of a `T` gives: `T` with every typed
 * array in it (inside objects, arrays, tuples, Maps and Sets) possibly a
 * {@link MappedArray} instead. With the addon (prebuilt for linux-x64) large
 * arrays are real typed arrays over the mapping; where it cannot load, or for
 * one array larger than an ArrayBuffer can hold, they are MappedArrays.
 * Narrow with `instanceof MappedArray` (or `toArray()` it). Buffers and
 * DataViews are always read, so they stay as they are.
 *
 * @example
 * ```ts
 * import { dumpSync, loadSync, MappedArray } from '@larder/store-fs';
 * dumpSync({ x: new Float64Array(100_000).fill(2) }, '/tmp/mapped-type.larder');
 * const { x } = loadSync<{ x: Float64Array }>('/tmp/mapped-type.larder', { mmap: 'r' }); // x: Float64Array | MappedArray<Float64Array>
 * const array = x instanceof MappedArray ? x.toArray() : x;
 * console.log(array[0]); // 2
 * ```
 */
export type Mapped<T> = T extends Buffer | MappedArray
  ? T
  : T extends TypedArray
    ? T | MappedArray<T>
    : T extends Map<infer K, infer V>
      ? Map<Mapped<K>, Mapped<V>>
      : T extends Set<infer V>
        ? Set<Mapped<V>>
        : T extends Date | DataView | ArrayBuffer | ((...args: never[]) => unknown)
          ? T
          : T extends object
            ? { [K in keyof T]: Mapped<T[K]> }
            : T;
