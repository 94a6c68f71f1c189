/**
 * The byte-level half of `hash()`'s encoding (hash.ts has the value walk and
 * the tag table): a growable little-endian buffer with the few primitives the
 * encoding is made of, and the xxh64 digest of what was written.
 *
 * The buffer is reused across calls (hash.ts keeps one shared writer), so a
 * hash of small arguments allocates nothing here.
 */
import xxhash from 'xxhash-wasm';

const xx = await xxhash();

const textEncoder = new TextEncoder();
/** `String.prototype.isWellFormed` (Node ≥ 20; the ES2024 lib is not in our target). */
type WellFormedCheck = { isWellFormed(): boolean };
/** The `str` length that announces raw UTF-16 code units: no UTF-8 length reaches it. */
const ILL_FORMED = 0xffffffff;
const INITIAL_BYTES = 4096;

/** Bytes written front to back into a buffer that grows on demand. */
export class ByteWriter {
  buf = new Uint8Array(INITIAL_BYTES);
  view = new DataView(this.buf.buffer);
  pos = 0;

  reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + bytes));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Lets go of a buffer that one huge value grew past `maxBytes`, rather than keeping it alive. */
  shrink(maxBytes: number): void {
    if (this.buf.length <= maxBytes) return;
    this.buf = new Uint8Array(INITIAL_BYTES);
    this.view = new DataView(this.buf.buffer);
  }

  byte(value: number): void {
    this.reserve(1);
    this.buf[this.pos++] = value;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.pos, value, true);
    this.pos += 4;
  }

  /** A float64; every NaN is written as the one canonical NaN, so all NaNs hash alike. */
  f64(value: number): void {
    this.reserve(8);
    if (value !== value) this.view.setUint32(this.pos, 0, true), this.view.setUint32(this.pos + 4, 0x7ff80000, true);
    else this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  u64(value: bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.pos, value, true);
    this.pos += 8;
  }

  /** u32 UTF-8 length + bytes, or raw UTF-16 for a string with a lone surrogate (which UTF-8 cannot carry). */
  str(value: string): void {
    const length = value.length;
    this.reserve(4 + length * 3);
    const start = this.pos + 4;
    let i = 0;
    // Short ASCII strings (most keys) are cheaper copied by hand than through TextEncoder.
    if (length < 64) {
      for (; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code > 0x7f) break;
        this.buf[start + i] = code;
      }
    }
    if (i < length && !(value as string & WellFormedCheck).isWellFormed()) return this.rawUtf16(value);
    const written = i === length ? length : textEncoder.encodeInto(value, this.buf.subarray(start)).written;
    this.view.setUint32(this.pos, written, true);
    this.pos = start + written;
  }

  /** A string with a lone surrogate: u32 0xffffffff, u32 code-unit count, the code units as they are. */
  rawUtf16(value: string): void {
    this.reserve(8 + value.length * 2);
    this.view.setUint32(this.pos, ILL_FORMED, true);
    this.view.setUint32(this.pos + 4, value.length, true);
    this.pos += 8;
    for (let i = 0; i < value.length; i++, this.pos += 2) this.view.setUint16(this.pos, value.charCodeAt(i), true);
  }

  bytes(source: Uint8Array): void {
    this.reserve(source.length);
    this.buf.set(source, this.pos);
    this.pos += source.length;
  }

  /** Hashes (xxh64, seed 0) the bytes written since `start` and rewinds to it. */
  digestSince(start: number): bigint {
    const digest = xx.h64Raw(this.buf.subarray(start, this.pos), 0n);
    this.pos = start;
    return digest;
  }
}
