/**
 * Whole-payload compression through node:zlib. The payload (manifest and
 * data region) is one stream: one native call, the best ratio for many small
 * arrays and strings, and mapped reads could not seek into compressed bytes
 * anyway (see README, "Compression").
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { codedError } from './errors.js';
import type { CompressionName } from './options.js';

type Codec = (input: Uint8Array, options: zlib.ZlibOptions | zlib.BrotliOptions) => Buffer;
type AsyncCodec = (input: Uint8Array, options: zlib.ZlibOptions | zlib.BrotliOptions) => Promise<Buffer>;

// zstd arrived in node:zlib with Node 22.15 / 23.8; Node 20's typings do not know it.
export const zstd = zlib as unknown as Partial<Record<'zstdCompressSync' | 'zstdDecompressSync' | 'zstdCompress' | 'zstdDecompress', Codec>> &
  Partial<Record<'createZstdDecompress', (options: zlib.ZlibOptions) => zlib.Gunzip>>;
const zstdLevelParam = (zlib.constants as unknown as Record<string, number | undefined>).ZSTD_c_compressionLevel;

/** Whether the running Node can read and write zstd files. */
export function hasZstd(): boolean {
  return typeof zstd.zstdCompressSync === 'function' && zstdLevelParam !== undefined;
}

/** The runtime lacks zstd: LARDER_MISSING_DRIVER, as for any missing optional piece. */
export function noZstd(what: string): Error {
  return codedError(
    Error,
    'LARDER_MISSING_DRIVER',
    `${what} needs node:zlib zstd (Node 22.15 or later); this is Node ${process.versions.node}. Run a newer Node, or use 'gzip' or 'brotli'`,
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
  if (!hasZstd()) throw noZstd("compress: 'zstd'");
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
  if (codec === undefined || (method === 'zstd' && !hasZstd())) throw noZstd("compress: 'zstd'");
  return (promisify(codec as (i: Uint8Array, o: object, cb: (e: Error | null, r: Buffer) => void) => void) as AsyncCodec)(
    payload,
    compressOptions(method, level),
  );
}
