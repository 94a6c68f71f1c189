/**
 * xxh64 checksums: the one xxHash instance larder uses, also exported as
 * `@larder/store-fs/checksum` so other packages (memory's hash) share it
 * rather than instantiating a second copy. The wasm is compiled and
 * instantiated synchronously when this module loads (3 KB: well under a
 * millisecond), so every sync path (loadSync, getSync on the cache-hit path)
 * hashes without per-call setup, and the module has no top-level await: a
 * CommonJS consumer (tslab's notebook cells, `require()` on Node 20.19+)
 * can load it. All digests use seed 0.
 */
import { Buffer } from 'node:buffer';
import { nativeAddon } from './native.js';
import { XXHASH_WASM_BASE64 } from './xxhash-wasm-bytes.js';

/** The piece of wasm memory this module uses (@types/node for Node 20 declares no WebAssembly). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The exports of xxhash-wasm's build that xxh64 needs (pointers are offsets into `mem`). */
interface XxhashExports {
  mem: WasmMemory;
  xxh64(pointer: number, length: number, seed: bigint): bigint;
  init64(statePointer: number, seed: bigint): void;
  update64(statePointer: number, inputPointer: number, length: number): void;
  digest64(statePointer: number): bigint;
}

/** The synchronous half of the WebAssembly JS API (Node, Bun and Deno all have it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

const { Module, Instance } = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
const wasm = new Instance(new Module(Buffer.from(XXHASH_WASM_BASE64, 'base64'))).exports as XxhashExports;
let heap = new Uint8Array(wasm.mem.buffer);

/** The wasm returns i64, which JS sees as signed: digests are the unsigned 64-bit value. */
const U64 = (1n << 64n) - 1n;

/** Bytes of xxh64's streaming state; a streamed piece is copied in right after it. */
const STATE_BYTES = 88;

/** Grows wasm memory so `[offset, offset + length)` fits (growing detaches the old view). */
function reserve(length: number, offset: number): void {
  if (wasm.mem.buffer.byteLength < offset + length) {
    wasm.mem.grow(Math.ceil((offset + length - wasm.mem.buffer.byteLength) / 65_536));
    heap = new Uint8Array(wasm.mem.buffer);
  }
}

function h64Raw(bytes: Uint8Array): bigint {
  reserve(bytes.length, 0);
  heap.set(bytes, 0);
  return wasm.xxh64(0, bytes.length, 0n) & U64;
}

const encoder = new TextEncoder();

/**
 * h64Raw copies its whole input into wasm memory (growing that memory to the
 * input's size), so large inputs go through the streaming hasher in pieces of
 * this size: each piece is still in the CPU cache when it is hashed and wasm
 * memory stays small.
 */
const PIECE = 1 << 20;

/**
 * xxh64 (seed 0) of `bytes`, as a 64-bit bigint. Only the bytes the view
 * covers are hashed, never the rest of its buffer.
 *
 * @example
 * ```ts
 * import { checksum } from '@larder/store-fs/checksum';
 * checksum(new TextEncoder().encode('abc')); // 0x44bc2cf5ad770999n
 * ```
 */
export function checksum(bytes: Uint8Array): bigint {
  if (bytes.length >= NATIVE_FROM) {
    // The addon's xxh64 reads the bytes in place, about 4× faster than copying them through wasm memory: same digests.
    const addon = nativeAddon();
    if (addon !== undefined) return addon.xxh64(bytes);
  }
  return bytes.length <= PIECE ? h64Raw(bytes) : streamingChecksum().update(bytes).digest();
}

/** From this many bytes a checksum uses the addon when it loads (below, a call into it costs more than the wasm's copy). */
const NATIVE_FROM = 4096;

/**
 * xxh64 (seed 0) of a string's UTF-8 bytes, as 16 lowercase hex characters.
 *
 * @example
 * ```ts
 * import { checksumString } from '@larder/store-fs/checksum';
 * checksumString('abc'); // '44bc2cf5ad770999'
 * ```
 */
export function checksumString(text: string): string {
  // A UTF-8 encoding is at most 3 bytes per UTF-16 unit.
  reserve(text.length * 3, 0);
  const { written } = encoder.encodeInto(text, heap);
  return (wasm.xxh64(0, written, 0n) & U64).toString(16).padStart(16, '0');
}

/** An incremental xxh64 for data that arrives in pieces (pipelined reads and writes). */
export interface StreamingChecksum {
  /** Feeds the next piece; returns the same hasher, so calls chain. */
  update(bytes: Uint8Array): StreamingChecksum;
  /** The xxh64 of everything fed so far. */
  digest(): bigint;
}

/**
 * Starts an incremental xxh64 (seed 0); feeding pieces gives the same digest
 * as {@link checksum} of their concatenation. Pieces of any size are fine:
 * large ones are fed to the wasm 1 MiB at a time.
 *
 * @example
 * ```ts
 * import { checksum, streamingChecksum } from '@larder/store-fs/checksum';
 * const bytes = new Uint8Array(10_000).fill(7);
 * const hasher = streamingChecksum();
 * hasher.update(bytes.subarray(0, 4000)).update(bytes.subarray(4000));
 * hasher.digest() === checksum(bytes); // true
 * ```
 */
export function streamingChecksum(): StreamingChecksum {
  // Every hasher shares the one wasm memory, so each keeps its own state
  // here and swaps it in around each call (as xxhash-wasm's create64 does).
  const state = new Uint8Array(STATE_BYTES);
  heap.set(state, 0);
  wasm.init64(0, 0n);
  state.set(heap.subarray(0, STATE_BYTES));
  const feed = (piece: Uint8Array): void => {
    reserve(piece.length, STATE_BYTES);
    heap.set(state, 0);
    heap.set(piece, STATE_BYTES);
    wasm.update64(0, STATE_BYTES, piece.length);
    state.set(heap.subarray(0, STATE_BYTES));
  };
  const wrapper: StreamingChecksum = {
    update(bytes) {
      for (let start = 0; start < bytes.length; start += PIECE) feed(bytes.subarray(start, Math.min(start + PIECE, bytes.length)));
      return wrapper;
    },
    digest() {
      heap.set(state, 0);
      return wasm.digest64(0) & U64;
    },
  };
  return wrapper;
}
