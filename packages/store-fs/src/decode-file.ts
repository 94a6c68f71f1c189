/**
 * The in-memory half of an eager load: header → (decompression) → manifest
 * checksum → bounds-checked manifest → segment layout, padding and checksums
 * → decode. Shared by load, loadSync and the compressed case of mmap loads.
 */
import { constants as bufferConstants } from 'node:buffer';
import { decompressSync } from './compression.js';
import { decode, type SegmentSource } from './decode.js';
import { FormatError, PREFIX, withFile } from './errors.js';
import { decodeHeader, HEADER_SIZE } from './header.js';
import { ManifestReader } from './manifest.js';
import type { ResolvedLoadOptions } from './options.js';
import { checkPadding, checkSegmentLayout, segmentBytes, verifyManifest, verifySegment } from './segments.js';

/**
 * The `code` of the RangeError {@link allocate} throws for a file larger than
 * one buffer: the file may be fine, it just has to be loaded with mmap.
 */
const TOO_LARGE = 'LARDER_TOO_LARGE';

/**
 * A fresh buffer at offset 0 of its own (Shared)ArrayBuffer, so 64-byte
 * alignment holds. Not zero-filled (that would cost a pass over the memory):
 * callers fill it completely or cut it to what they read.
 */
export function allocate(size: number, shared: boolean): Uint8Array {
  if (size > bufferConstants.MAX_LENGTH) {
    const error = new RangeError(`${PREFIX} the file has ${size} bytes, more than one buffer can hold; load it with { mmap: 'r' }`);
    throw Object.assign(error, { code: TOO_LARGE });
  }
  return shared ? new Uint8Array(new SharedArrayBuffer(size)) : Buffer.allocUnsafeSlow(size);
}

/** Decodes a whole file held in memory. */
export function decodeFile(file: Uint8Array, options: ResolvedLoadOptions): unknown {
  const header = decodeHeader(file, file.length);
  let payload = file.subarray(HEADER_SIZE);
  if (header.compression !== 'none') {
    payload = decompressSync(header.compression, payload, header.payloadLength);
    if (options.shared) {
      const shared = allocate(payload.length, true);
      shared.set(payload);
      payload = shared;
    }
  }
  const manifest = payload.subarray(0, header.manifestLength);
  verifyManifest(manifest, header);
  const reader = new ManifestReader(manifest);
  const entries = reader.segments;
  checkSegmentLayout(entries, header);
  checkPadding(payload, header, entries);
  if (options.verify) {
    for (let i = 0; i < entries.length; i++) verifySegment(segmentBytes(payload, header, entries[i]!), entries[i]!, i);
  }
  const source: SegmentSource = { bytes: (index) => segmentBytes(payload, header, entries[index]!) };
  return decode(reader, source);
}

/** Anything that escapes the decoder other than a FormatError is still a bad file, reported as one. */
export function asFormatError(error: unknown, file: string): unknown {
  if (error instanceof FormatError) return withFile(error, file);
  if (error instanceof RangeError && (error as RangeError & { code?: unknown }).code === TOO_LARGE) return error;
  if (error instanceof RangeError || error instanceof TypeError || error instanceof SyntaxError) {
    return new FormatError('the file could not be decoded', { file, cause: error });
  }
  return error;
}
