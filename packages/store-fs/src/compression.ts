/**
 * Whole-payload compression through node:zlib. The payload (manifest and
 * data region) is one stream: one native call, the best ratio for many small
 * arrays and strings, and mapped reads could not seek into compressed bytes
 * anyway (see README, "Compression").
 */
import { constants as bufferConstants } from 'node:buffer';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { FormatError, PREFIX } from './errors.js';
import type { CompressionMethod } from './header.js';
import type { CompressionName } from './options.js';

type Codec = (input: Uint8Array, options: zlib.ZlibOptions | zlib.BrotliOptions) => Buffer;
type AsyncCodec = (input: Uint8Array, options: zlib.ZlibOptions | zlib.BrotliOptions) => Promise<Buffer>;

// zstd arrived in node:zlib with Node 22.15 / 23.8; Node 20's typings do not know it.
const zstd = zlib as unknown as Partial<Record<'zstdCompressSync' | 'zstdDecompressSync' | 'zstdCompress' | 'zstdDecompress', Codec>>;
const zstdLevelParam = (zlib.constants as unknown as Record<string, number | undefined>).ZSTD_c_compressionLevel;

/** Whether the running Node can read and write zstd files. */
export function hasZstd(): boolean {
  return typeof zstd.zstdCompressSync === 'function' && zstdLevelParam !== undefined;
}

function noZstd(): Error {
  return Object.assign(
    new Error(`${PREFIX} compress: 'zstd' needs node:zlib zstd (Node 22.15 or later); this is Node ${process.versions.node}. Use 'gzip' or 'brotli'`),
    { code: 'LARDER_NO_ZSTD' },
  );
}

function compressOptions(method: CompressionName, level: number): zlib.ZlibOptions | zlib.BrotliOptions {
  if (method === 'gzip') return { level };
  if (method === 'brotli') return { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: level } };
  return { params: { [zstdLevelParam!]: level } } as zlib.ZlibOptions;
}

function compressor(method: CompressionName): Codec {
  if (method === 'gzip') return zlib.gzipSync;
  if (method === 'brotli') return zlib.brotliCompressSync;
  if (!hasZstd()) throw noZstd();
  return zstd.zstdCompressSync!;
}

/** Throws at once (before anything is written) when `method` is not available here. */
export function assertCompressionAvailable(method: CompressionName): void {
  compressor(method);
}

export function compressSync(method: CompressionName, level: number, payload: Uint8Array): Buffer {
  return compressor(method)(payload, compressOptions(method, level));
}

export async function compress(method: CompressionName, level: number, payload: Uint8Array): Promise<Buffer> {
  const codec = method === 'gzip' ? zlib.gzip : method === 'brotli' ? zlib.brotliCompress : zstd.zstdCompress;
  if (codec === undefined || (method === 'zstd' && !hasZstd())) throw noZstd();
  return (promisify(codec as (i: Uint8Array, o: object, cb: (e: Error | null, r: Buffer) => void) => void) as AsyncCodec)(
    payload,
    compressOptions(method, level),
  );
}

/**
 * Decompression is bounded by the payload length the header claims: zlib
 * stops at `maxOutputLength`, and grows its output chunk by chunk with chunks
 * sized from the stored bytes, so a 1 KB file claiming gigabytes fails before
 * any large allocation.
 */
function decompressOptions(stored: Uint8Array, payloadLength: number): zlib.ZlibOptions {
  const chunkSize = Math.max(64 * 1024, Math.min(payloadLength, stored.length * 8, 16 * 1024 * 1024));
  return { maxOutputLength: Math.max(1, payloadLength), chunkSize };
}

function decompressor(method: Exclude<CompressionMethod, 'none'>): Codec {
  if (method === 'gzip') return zlib.gunzipSync;
  if (method === 'brotli') return zlib.brotliDecompressSync;
  if (!hasZstd()) {
    throw new FormatError(`the file is zstd-compressed and this Node (${process.versions.node}) has no zstd in node:zlib; load it with Node 22.15 or later`);
  }
  return zstd.zstdDecompressSync!;
}

/** Decompresses into a buffer whose offset is 64-aligned, so typed arrays can be views into it. */
export function decompressSync(method: Exclude<CompressionMethod, 'none'>, stored: Uint8Array, payloadLength: number): Uint8Array {
  if (payloadLength > bufferConstants.MAX_LENGTH) {
    throw new FormatError(`the payload claims ${payloadLength} bytes, more than this Node can hold in one buffer`);
  }
  const codec = decompressor(method);
  let output: Buffer;
  try {
    output = codec(stored, decompressOptions(stored, payloadLength));
  } catch (error) {
    throw new FormatError(`the ${method} payload does not decompress`, { cause: error });
  }
  if (output.length !== payloadLength) {
    throw new FormatError(`the ${method} payload decompresses to ${output.length} bytes, the header says ${payloadLength}`);
  }
  if (output.byteOffset % 64 === 0) return output;
  const aligned = new Uint8Array(output.length);
  aligned.set(output);
  return aligned;
}
