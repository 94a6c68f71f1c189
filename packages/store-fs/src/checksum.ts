/**
 * xxh64 checksums. xxhash-wasm instantiates asynchronously, so it is done
 * once here with a top-level await: every sync path (loadSync, getSync on the
 * cache-hit path) can then hash without any per-call setup.
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

/** xxh64 (seed 0) of `bytes`. */
export function checksum(bytes: Uint8Array): bigint {
  if (bytes.length <= PIECE) return api.h64Raw(bytes, 0n);
  const hasher = api.create64(0n);
  for (let start = 0; start < bytes.length; start += PIECE) {
    hasher.update(bytes.subarray(start, Math.min(start + PIECE, bytes.length)));
  }
  return hasher.digest();
}

/** An incremental xxh64 for data that arrives in pieces (pipelined reads and writes). */
export interface StreamingChecksum {
  update(bytes: Uint8Array): StreamingChecksum;
  digest(): bigint;
}

/** Starts an incremental xxh64 (seed 0); feeding pieces gives the same digest as {@link checksum}. */
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
