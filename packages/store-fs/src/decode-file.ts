/**
 * The in-memory half of an eager load: header → (decompression) → manifest
 * checksum → bounds-checked manifest → segment layout, padding and checksums
 * → decode. Shared by load, loadSync and the compressed case of mmap loads.
 */
import { constants as bufferConstants } from 'node:buffer';
import { decode, type SegmentSource } from './decode.js';
import { codedError, FormatError, withFile } from './errors.js';
import { decodeHeader, HEADER_SIZE, type Header } from './header.js';
import { freshBytes } from './huge-pages.js';
import { inflate, inflateStart, inflateSync } from './inflate.js';
import { ManifestReader } from './manifest.js';
import type { ResolvedLoadOptions } from './options.js';
import { checkPadding, checkSegmentLayout, segmentBytes, verifyManifest, verifySegment } from './segments.js';

/**
 * The `code` of the RangeError {@link allocate} throws for a file larger than
 * one buffer: the file may be fine, it just has to be loaded with mmap.
 */
const TOO_LARGE = 'LARDER_TOO_LARGE';

/**
 * A fresh buffer at a multiple of 64 in its own (Shared)ArrayBuffer, so the
 * format's 64-byte alignment holds. Not zero-filled (that would cost a pass
 * over the memory): callers fill it completely or cut it to what they read.
 * A large one lies on huge pages advised before anything touches it
 * (huge-pages.ts): its fill faults 2 MiB at a time.
 */
export function allocate(size: number, shared: boolean): Uint8Array {
  checkFits(size);
  return freshBytes(size, shared);
}

/** The RangeError LARDER_TOO_LARGE for a file larger than one buffer (checked first: the file may be fine). */
export function checkFits(size: number): void {
  if (size > bufferConstants.MAX_LENGTH) {
    throw codedError(RangeError, TOO_LARGE, `the file has ${size} bytes, more than one buffer can hold; load it with { mmap: 'r' }`);
  }
}

/**
 * Checks a large file's head: the header against the file's size, and for an
 * uncompressed file whose manifest lies in the head, the manifest's checksum,
 * structure and segment table (cheap: the decode repeats them on bytes it has
 * anyway); for a compressed one, that its stored bytes begin a stream of its
 * method (and the manifest's checksum, when it inflates from the head). A
 * FormatError when anything is wrong.
 */
export function checkHead(head: Uint8Array, size: number): Header {
  const header = decodeHeader(head, size);
  if (header.compression === 'none' && HEADER_SIZE + header.manifestLength <= head.length) {
    const manifest = head.subarray(HEADER_SIZE, HEADER_SIZE + header.manifestLength);
    verifyManifest(manifest, header);
    checkSegmentLayout(new ManifestReader(manifest).segments, header);
  } else if (header.compression !== 'none') {
    const start = inflateStart(header.compression, head.subarray(HEADER_SIZE), header);
    if (start !== undefined && start.length >= header.manifestLength) verifyManifest(start.subarray(0, header.manifestLength), header);
  }
  return header;
}

/** Decodes a whole file held in memory. A compressed payload is inflated synchronously (memory: one payload). */
export function decodeFile(file: Uint8Array, options: ResolvedLoadOptions): unknown {
  const header = decodeHeader(file, file.length);
  let payload = file.subarray(HEADER_SIZE);
  if (header.compression !== 'none') {
    payload = inflateSync(header.compression, payload, header);
    if (options.shared) {
      const shared = allocate(payload.length, true);
      shared.set(payload);
      payload = shared;
    }
  }
  return decodePayload(payload, header, options, checkManifest(payload, header));
}

/**
 * decodeFile for load(): a compressed payload is inflated off the event loop,
 * its manifest checked before the data region is allocated or inflated.
 */
export async function decodeFileAsync(file: Uint8Array, options: ResolvedLoadOptions): Promise<unknown> {
  const header = decodeHeader(file, file.length);
  if (header.compression === 'none') return decodeFile(file, options);
  let reader: ManifestReader | undefined;
  const payload = await inflate(
    header.compression,
    file.subarray(HEADER_SIZE),
    header,
    (size) => allocate(size, options.shared),
    (head) => {
      reader = checkManifest(head, header);
    },
  );
  return decodePayload(payload, header, options, reader!);
}

/** The manifest checksum, its structure and the segment table against the header: all before any segment is touched. */
function checkManifest(payload: Uint8Array, header: Header): ManifestReader {
  const manifest = payload.subarray(0, header.manifestLength);
  verifyManifest(manifest, header);
  const reader = new ManifestReader(manifest);
  checkSegmentLayout(reader.segments, header);
  return reader;
}

function decodePayload(payload: Uint8Array, header: Header, options: ResolvedLoadOptions, reader: ManifestReader): unknown {
  const entries = reader.segments;
  checkPadding(payload, header, entries);
  if (options.verify) {
    for (let i = 0; i < entries.length; i++) verifySegment(segmentBytes(payload, header, entries[i]!), entries[i]!, i);
  }
  const source: SegmentSource = { bytes: (index) => segmentBytes(payload, header, entries[index]!) };
  return decode(reader, source, header.version);
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
