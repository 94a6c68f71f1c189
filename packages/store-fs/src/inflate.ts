/**
 * Bounded decompression of a payload. A compressed file is a few bytes that
 * may claim, and inflate to, gigabytes (a 948-byte brotli stream inflates to
 * 1 GiB), so nothing here trusts the stream:
 *
 * - what the header claims is checked first: no payload beyond one buffer,
 *   and for gzip none beyond deflate's 1032:1 limit on its stored bytes;
 * - the output goes into one buffer of exactly the declared payload length
 *   (never a list of chunks concatenated at the end, which doubled the peak),
 *   and a stream that produces one byte more is a FormatError at once;
 * - `inflate` (async) works in pieces on the thread pool, so the event loop
 *   keeps running, and inflates and checks the manifest before it allocates
 *   or inflates the data region: a bad manifest costs its own size, not the
 *   payload's;
 * - `inflateSync` may block, but its memory stays one payload.
 */
import { constants as bufferConstants } from 'node:buffer';
import zlib from 'node:zlib';
import { hasZstd, noZstd, zstd } from './compression.js';
import { FormatError } from './errors.js';
import { dataStart, type CompressionMethod, type Header } from './header.js';

type Method = Exclude<CompressionMethod, 'none'>;

/**
 * Deflate codes a match of at most 258 bytes in at least 2 bits, so a gzip
 * stream inflates to at most 1032 times its size (the gzip frame only adds
 * to the stored bytes). A header claiming more is lying.
 */
const DEFLATE_MAX_RATIO = 1032;
/** Output piece of the async inflate: one thread-pool task and one copy each. */
const PIECE = 1 << 20;

/** Checks what the header claims against what any stream of this size could hold. */
function checkClaim(method: Method, storedLength: number, header: Header): void {
  const claimed = header.payloadLength;
  if (claimed >= bufferConstants.MAX_LENGTH) {
    throw new FormatError(`the payload claims ${claimed} bytes, more than this runtime can hold in one buffer`);
  }
  if (method === 'gzip' && claimed > DEFLATE_MAX_RATIO * storedLength) {
    throw new FormatError(`the header claims a ${claimed}-byte payload, more than ${storedLength} bytes of gzip can inflate to`);
  }
  if (method === 'zstd' && !hasZstd()) throw noZstd('the file is zstd-compressed: loading it');
}

function tooLong(method: Method, header: Header): FormatError {
  return new FormatError(`the ${method} payload inflates to more than the ${header.payloadLength} bytes the header declares`);
}

function tooShort(method: Method, header: Header, got: number): FormatError {
  return new FormatError(`the ${method} payload inflates to ${got} bytes, the header says ${header.payloadLength}`);
}

function corrupt(method: Method, error: unknown): FormatError {
  return new FormatError(`the ${method} payload does not decompress`, { cause: error });
}

/**
 * Inflates the whole payload synchronously into one buffer of exactly the
 * declared length (zlib's output chunk is that length plus one byte, so it
 * allocates once and stops at the first byte too many). The caller checks the
 * manifest afterwards.
 */
export function inflateSync(method: Method, stored: Uint8Array, header: Header): Uint8Array {
  checkClaim(method, stored.length, header);
  const options = { chunkSize: Math.max(64, header.payloadLength + 1), maxOutputLength: Math.max(1, header.payloadLength) };
  let output: Buffer;
  try {
    if (method === 'gzip') output = zlib.gunzipSync(stored, options);
    else if (method === 'brotli') output = zlib.brotliDecompressSync(stored, options);
    else output = zstd.zstdDecompressSync!(stored, options);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLong(method, header);
    throw corrupt(method, error);
  }
  if (output.length !== header.payloadLength) throw tooShort(method, header, output.length);
  if (output.byteOffset % 64 === 0) return output;
  // Small outputs may come from Buffer's shared pool; typed arrays need a 64-aligned start.
  const aligned = new Uint8Array(output.length);
  aligned.set(output);
  return aligned;
}

/**
 * Inflates the payload in {@link PIECE}-byte pieces off the main thread.
 * The first `dataStart` bytes (manifest and padding) go to a buffer of their
 * own and `checkHead` runs on them; only when it returns is the payload
 * buffer allocated (by `allocate`, so it may be shared) and the rest
 * inflated into it.
 */
export function inflate(
  method: Method,
  stored: Uint8Array,
  header: Header,
  allocate: (size: number) => Uint8Array,
  checkHead: (head: Uint8Array) => void,
): Promise<Uint8Array> {
  checkClaim(method, stored.length, header);
  const headLength = Math.min(header.payloadLength, dataStart(header));
  const stream =
    method === 'gzip' ? zlib.createGunzip({ chunkSize: PIECE })
    : method === 'brotli' ? zlib.createBrotliDecompress({ chunkSize: PIECE })
    : zstd.createZstdDecompress!({ chunkSize: PIECE });
  return new Promise<Uint8Array>((resolve, reject) => {
    let target: Uint8Array = new Uint8Array(headLength);
    let filled = 0;
    let headChecked = false;
    const fail = (error: unknown): void => {
      stream.destroy();
      reject(error);
    };
    // Once the head is complete: check it, then move to the payload-sized buffer.
    const afterHead = (): void => {
      checkHead(target);
      headChecked = true;
      const payload = allocate(header.payloadLength);
      payload.set(target);
      target = payload;
    };
    stream.on('data', (chunk: Buffer) => {
      try {
        for (let at = 0; at < chunk.length; ) {
          if (!headChecked && filled === headLength) afterHead();
          const room = target.length - filled;
          if (room === 0) throw tooLong(method, header);
          const take = Math.min(room, chunk.length - at);
          target.set(chunk.subarray(at, at + take), filled);
          filled += take;
          at += take;
        }
      } catch (error) {
        fail(error);
      }
    });
    stream.on('end', () => {
      try {
        if (!headChecked && filled === headLength) afterHead();
        if (filled !== header.payloadLength) throw tooShort(method, header, filled);
        resolve(target);
      } catch (error) {
        reject(error);
      }
    });
    stream.on('error', (error) => fail(corrupt(method, error)));
    stream.end(stored);
  });
}

/** The most a head check inflates: enough for the manifests of nearly every file. */
const START_LIMIT = 1 << 20;

/**
 * Inflates the first stored bytes of a large file (its head, read before the
 * file itself) as far as they go, to refuse a stream that is not one before
 * a buffer of the file's size is filled: a FormatError when they do not
 * decompress, or when the header claims more than the file can inflate to. Returns the payload's start when it came out whole below 1 MiB
 * (the caller checks the manifest in it), else undefined: the stream begins
 * well and the full inflate decides. zstd (no partial decode on every Node
 * this runs on) is left to the full inflate.
 */
export function inflateStart(method: Method, storedStart: Uint8Array, header: Header): Uint8Array | undefined {
  checkClaim(method, header.storedLength, header);
  if (method === 'zstd') return undefined;
  const maxOutputLength = Math.max(1, Math.min(header.payloadLength, START_LIMIT));
  try {
    return method === 'gzip'
      ? zlib.gunzipSync(storedStart, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength })
      : zlib.brotliDecompressSync(storedStart, { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH, maxOutputLength });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    throw corrupt(method, error);
  }
}
