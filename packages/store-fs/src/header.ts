/**
 * The fixed 64-byte header at the start of every larder file. All integers
 * are little-endian. The header is 64 bytes so that the payload that follows
 * starts 64-byte aligned, which is what lets typed arrays be views into the
 * bytes read (see the byte table in README.md).
 */
import { checksum } from './checksum.js';
import { check, FormatError } from './errors.js';

/** "\x89LARDER\n": the high byte catches 7-bit transfers, the newline catches text-mode rewrites. */
const MAGIC = Uint8Array.of(0x89, 0x4c, 0x41, 0x52, 0x44, 0x45, 0x52, 0x0a);
/**
 * The newest format version this reader knows. Version 2 added the node kinds
 * ObjectEntries (objects with lone-surrogate keys) and SparseArray; a writer
 * stamps 2 only on files that use them, 1 on all others.
 */
export const FORMAT_VERSION = 2;
export const HEADER_SIZE = 64;
/** Segments and the data region start at multiples of this, relative to the payload. */
const ALIGN = 64;

/** Compression method codes stored in byte 10. Part of the format: never renumber. */
export const COMPRESSION_CODES = { none: 0, gzip: 1, brotli: 2, zstd: 3 } as const;
export type CompressionMethod = keyof typeof COMPRESSION_CODES;
const METHODS = Object.keys(COMPRESSION_CODES) as CompressionMethod[];

/** A decoded header. */
export interface Header {
  /** Format version, 1 to {@link FORMAT_VERSION}: it decides which node kinds the manifest may use. */
  version: number;
  compression: CompressionMethod;
  /** Bytes of the FlatBuffers manifest at payload offset 0. */
  manifestLength: number;
  /** Bytes of the (uncompressed) payload: manifest, padding, data region. */
  payloadLength: number;
  /** Bytes after the header in the file: payloadLength, or the compressed size. */
  storedLength: number;
  manifestChecksum: bigint;
}

/** Largest u64 we accept: offsets and lengths must stay exact JavaScript numbers. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/** Start of the data region inside the payload. */
export function dataStart(header: Pick<Header, 'manifestLength'>): number {
  return alignUp(header.manifestLength);
}

/** The header bytes; `version` defaults to 1, the version of a file that uses no version-2 kind. */
export function encodeHeader(header: Omit<Header, 'version'> & { version?: number }): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint16(8, header.version ?? 1, true);
  view.setUint8(10, COMPRESSION_CODES[header.compression]);
  view.setUint32(12, header.manifestLength, true);
  view.setBigUint64(16, BigInt(header.payloadLength), true);
  view.setBigUint64(24, BigInt(header.storedLength), true);
  view.setBigUint64(32, header.manifestChecksum, true);
  view.setBigUint64(56, checksum(bytes.subarray(0, 56)), true);
  return bytes;
}

/**
 * Parses and checks the header. `fileSize` is the size of the whole file; a
 * file longer or shorter than the header says is truncated or has junk after
 * it, and either is a FormatError.
 */
export function decodeHeader(bytes: Uint8Array, fileSize: number): Header {
  if (fileSize < HEADER_SIZE || bytes.length < HEADER_SIZE) {
    throw new FormatError(`not a larder file: ${fileSize} bytes is shorter than the ${HEADER_SIZE}-byte header`);
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw new FormatError('not a larder file: the magic bytes do not match');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  const version = view.getUint16(8, true);
  // Checked before the header checksum: a newer version may lay its header out differently.
  if (version > FORMAT_VERSION) {
    throw new FormatError(
      `the file has format version ${version}, newer than version ${FORMAT_VERSION} that this @larder/store-fs reads; upgrade @larder/store-fs to load it`,
    );
  }
  check(version >= 1, `format version ${version} is not valid`);
  check(view.getBigUint64(56, true) === checksum(bytes.subarray(0, 56)), 'header checksum mismatch: the file is corrupt');
  const code = view.getUint8(10);
  const compression = METHODS[code];
  check(compression !== undefined, `unknown compression code ${code}`);
  check(view.getUint8(11) === 0, 'reserved header byte 11 is not zero');
  for (let i = 40; i < 56; i++) {
    if (bytes[i] !== 0) throw new FormatError(`reserved header byte ${i} is not zero`);
  }
  const header: Header = {
    version,
    compression,
    manifestLength: view.getUint32(12, true),
    payloadLength: u64(view, 16, 'payload length'),
    storedLength: u64(view, 24, 'stored length'),
    manifestChecksum: view.getBigUint64(32, true),
  };
  check(
    HEADER_SIZE + header.storedLength === fileSize,
    `the header says ${HEADER_SIZE + header.storedLength} bytes but the file has ${fileSize}: it is truncated or has junk appended`,
  );
  if (compression === 'none') {
    check(header.payloadLength === header.storedLength, 'payload and stored lengths differ in an uncompressed file');
  }
  check(header.manifestLength >= 12, 'the manifest is too short to be one');
  check(header.manifestLength <= header.payloadLength, 'the manifest is longer than the payload');
  check(
    header.payloadLength === header.manifestLength || dataStart(header) <= header.payloadLength,
    'the data region starts past the end of the payload',
  );
  return header;
}

function u64(view: DataView, offset: number, what: string): number {
  const value = view.getBigUint64(offset, true);
  check(value <= BigInt(MAX_SAFE), `${what} ${value} is larger than any file this reader accepts`);
  return Number(value);
}
