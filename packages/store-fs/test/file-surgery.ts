/** Test helpers that take valid files apart and put them back together with fresh checksums. */
import zlib from 'node:zlib';
import { checksum, streamingChecksum } from '../src/checksum.js';
import { alignUp, decodeHeader, encodeHeader, HEADER_SIZE } from '../src/header.js';
import { buildManifest, Kind, type PlanNode } from '../src/manifest.js';

/** How {@link craftZeroBomb} builds its file. */
export interface ZeroBomb {
  method: 'gzip' | 'brotli' | 'zstd';
  /** Bytes of the one Uint8Array segment (all zeros) the manifest declares. */
  zeros: number;
  /** Zero bytes the stream carries after the payload the manifest and header describe. */
  trailing?: number;
  /** Break the manifest checksum in the header (the manifest itself stays intact). */
  badManifest?: boolean;
  /** A payload length for the header other than the true one. */
  claim?: number;
}

/**
 * A compressed file whose payload is a Uint8Array of `zeros` zero bytes: a
 * few hundred bytes to a few hundred KB that inflate to `zeros` (plus
 * `trailing`). Compressed as a stream, so crafting it never holds the payload.
 */
export async function craftZeroBomb({ method, zeros, trailing = 0, badManifest = false, claim }: ZeroBomb): Promise<Uint8Array> {
  const piece = new Uint8Array(1 << 20);
  const hasher = streamingChecksum();
  for (let done = 0; done < zeros; done += piece.length) hasher.update(piece.subarray(0, Math.min(piece.length, zeros - done)));
  const manifest = buildManifest(0, [{ kind: Kind.TypedArray, element: 1, segment: 0 }], [{ offset: 0, length: zeros, checksum: hasher.digest() }]);
  const payloadLength = alignUp(manifest.length) + zeros;
  const compressor =
    method === 'gzip' ? zlib.createGzip({ level: 9 })
    : method === 'brotli' ? zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } })
    : (zlib as unknown as { createZstdCompress(): zlib.Gzip }).createZstdCompress();
  const out: Buffer[] = [];
  compressor.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = new Promise((resolve, reject) => compressor.on('end', resolve).on('error', reject));
  const write = (bytes: Uint8Array): Promise<void> => new Promise((resolve) => (compressor.write(bytes) ? resolve() : compressor.once('drain', resolve)));
  await write(manifest);
  await write(new Uint8Array(alignUp(manifest.length) - manifest.length));
  for (let left = zeros + trailing; left > 0; left -= piece.length) await write(piece.subarray(0, Math.min(piece.length, left)));
  compressor.end();
  await ended;
  const stored = Buffer.concat(out);
  const header = encodeHeader({
    compression: method,
    manifestLength: manifest.length,
    payloadLength: claim ?? payloadLength,
    storedLength: stored.length,
    manifestChecksum: badManifest ? 0n : checksum(manifest),
  });
  return Buffer.concat([header, stored]);
}

/**
 * A whole uncompressed file with valid checksums whose manifest holds exactly
 * `nodes` (root 0) and no segments, stamped with format `version`: the way
 * to write what dump never would.
 */
export function craftFile(nodes: PlanNode[], version = 1): Uint8Array {
  const manifest = buildManifest(0, nodes, []);
  const header = encodeHeader({ version, compression: 'none', manifestLength: manifest.length, payloadLength: manifest.length, storedLength: manifest.length, manifestChecksum: checksum(manifest) });
  const file = new Uint8Array(HEADER_SIZE + manifest.length);
  file.set(header, 0);
  file.set(manifest, HEADER_SIZE);
  return file;
}

/** Recomputes the manifest and header checksums of an uncompressed file after `edit` changed its manifest bytes. */
export function editManifest(file: Uint8Array, edit: (manifest: Uint8Array, view: DataView) => void): Uint8Array {
  const copy = file.slice();
  const header = decodeHeader(copy, copy.length);
  const manifest = copy.subarray(HEADER_SIZE, HEADER_SIZE + header.manifestLength);
  edit(manifest, new DataView(manifest.buffer, manifest.byteOffset, manifest.byteLength));
  copy.set(encodeHeader({ ...header, manifestChecksum: checksum(manifest) }), 0);
  return copy;
}

/** Rewrites header fields (with a valid header checksum), e.g. to claim other lengths. */
export function editHeader(file: Uint8Array, fields: Partial<Parameters<typeof encodeHeader>[0]>): Uint8Array {
  const copy = file.slice();
  const header = decodeHeader(copy, copy.length);
  copy.set(encodeHeader({ ...header, ...fields }), 0);
  return copy;
}

/** A small deterministic PRNG (mulberry32), so every fuzz run tries the same mutations. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
