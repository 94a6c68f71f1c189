/** Test helpers that take valid files apart and put them back together with fresh checksums. */
import { checksum } from '../src/checksum.js';
import { decodeHeader, encodeHeader, HEADER_SIZE } from '../src/header.js';
import { buildManifest, type PlanNode } from '../src/manifest.js';

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
