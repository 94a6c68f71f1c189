/**
 * xxh64 checksums: the one xxhash-wasm instance larder uses, also exported as
 * `@larder/store-fs/checksum` so other packages (memory's hash) share it
 * rather than instantiating a second copy. xxhash-wasm instantiates
 * asynchronously, so it is done once here with a top-level await: every sync
 * path (loadSync, getSync on the cache-hit path) can then hash without any
 * per-call setup. All digests use seed 0.
 */
import xxhash from 'xxhash-wasm';

const api = await xxhash();

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
  return bytes.length <= PIECE ? api.h64Raw(bytes, 0n) : streamingChecksum().update(bytes).digest();
}

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
  return api.h64ToString(text, 0n);
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
  const hasher = api.create64(0n);
  const wrapper: StreamingChecksum = {
    update(bytes) {
      for (let start = 0; start < bytes.length; start += PIECE) {
        hasher.update(bytes.subarray(start, Math.min(start + PIECE, bytes.length)));
      }
      return wrapper;
    },
    digest: () => hasher.digest(),
  };
  return wrapper;
}
