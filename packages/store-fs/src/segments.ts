/**
 * Checks of the data region against the manifest's segment table. The
 * layout is canonical (each segment starts at the next multiple of 64 after
 * the previous one, the last one ends the file, padding is zero), so any
 * byte that is not where the writer would have put it is a FormatError.
 */
import { checksum } from './checksum.js';
import { check, FormatError } from './errors.js';
import { alignUp, dataStart, type Header } from './header.js';
import type { SegmentEntry } from './manifest.js';

/** Checks every segment's offset and length against the header; O(number of segments). */
export function checkSegmentLayout(entries: readonly SegmentEntry[], header: Header): void {
  if (entries.length === 0) {
    check(header.payloadLength === header.manifestLength, 'bytes follow the manifest but no segment describes them');
    return;
  }
  const dataLength = header.payloadLength - dataStart(header);
  let end = 0;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    // Per segment: build a message only when the check fails.
    if (entry.offset !== alignUp(end)) throw new FormatError(`segment ${i} is not where the layout puts it (offset ${entry.offset})`);
    end = entry.offset + entry.length;
    if (end > dataLength) throw new FormatError(`segment ${i} runs past the end of the data (${end} > ${dataLength})`);
  }
  check(end === dataLength, `the data region has ${dataLength - end} bytes after its last segment`);
}

/** The bytes of segment `entry` inside a payload. */
export function segmentBytes(payload: Uint8Array, header: Header, entry: SegmentEntry): Uint8Array {
  const start = dataStart(header) + entry.offset;
  return payload.subarray(start, start + entry.length);
}

/** Padding (after the manifest, between segments) must be zero: a flipped byte there is corruption too. */
export function checkPadding(payload: Uint8Array, header: Header, entries: readonly SegmentEntry[]): void {
  if (entries.length === 0) return;
  const base = dataStart(header);
  checkZero(payload, header.manifestLength, base);
  for (let i = 1; i < entries.length; i++) {
    const previous = entries[i - 1]!;
    checkZero(payload, base + previous.offset + previous.length, base + entries[i]!.offset);
  }
}

/** Scans for the first non-zero byte and only then builds the error. */
function checkZero(payload: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    if (payload[i] !== 0) throw new FormatError(`padding byte ${i} of the payload is not zero`);
  }
}

export function verifySegment(bytes: Uint8Array, entry: SegmentEntry, index: number): void {
  if (checksum(bytes) !== entry.checksum) throw new FormatError(`segment ${index} checksum mismatch: the file is corrupt`);
}

export function verifyManifest(manifest: Uint8Array, header: Header): void {
  check(checksum(manifest) === header.manifestChecksum, 'manifest checksum mismatch: the file is corrupt');
}
