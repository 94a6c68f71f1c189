/**
 * Huge .larder files that cost no disk: the header and manifest of Float64
 * arrays of the given lengths, the payload a hole (ftruncate) except for each
 * array's last element, so a test can open a file of gigabytes in O(1) and
 * check that it reads the right bytes.
 */
import fs from 'node:fs';
import { checksum } from '../src/checksum.js';
import { alignUp, encodeHeader, HEADER_SIZE } from '../src/header.js';
import { buildManifest, Kind } from '../src/manifest.js';

interface SparseArray {
  length: number;
  /** The array's last element, the one value written. */
  last: number;
}

/** One array gives a file whose value is that Float64Array; a list, a file whose value is an array of them. */
export function writeSparseFloat64File(target: string, value: SparseArray | readonly SparseArray[]): void {
  const arrays = Array.isArray(value) ? value : [value as SparseArray];
  const segments: { offset: number; length: number; checksum: bigint }[] = [];
  let offset = 0;
  for (const { length } of arrays) {
    segments.push({ offset, length: length * 8, checksum: 0n });
    offset = alignUp(offset + length * 8);
  }
  const leaves = arrays.map((_, i) => ({ kind: Kind.TypedArray, element: 8, segment: i }));
  const nodes = !Array.isArray(value) ? leaves : [{ kind: Kind.Array, children: leaves.map((_, i) => i + 1) }, ...leaves];
  const manifest = buildManifest(0, nodes, segments);
  const dataStart = HEADER_SIZE + alignUp(manifest.length);
  const payloadLength = alignUp(manifest.length) + segments.at(-1)!.offset + segments.at(-1)!.length;
  const header = encodeHeader({ compression: 'none', manifestLength: manifest.length, payloadLength, storedLength: payloadLength, manifestChecksum: checksum(manifest) });
  const fd = fs.openSync(target, 'w');
  try {
    fs.writeSync(fd, header, 0, header.length, 0);
    fs.writeSync(fd, manifest, 0, manifest.length, HEADER_SIZE);
    fs.ftruncateSync(fd, HEADER_SIZE + payloadLength); // sparse: no disk, no RAM
    segments.forEach((segment, i) => fs.writeSync(fd, Float64Array.of(arrays[i]!.last), 0, 8, dataStart + segment.offset + segment.length - 8));
  } finally {
    fs.closeSync(fd);
  }
}
