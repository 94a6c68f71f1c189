import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import xxhash from 'xxhash-wasm';
import { checksum, checksumString, streamingChecksum } from '@larder/store-fs/checksum';
import { XXHASH_WASM_BASE64 } from '../src/xxhash-wasm-bytes.js';

describe('@larder/store-fs/checksum', () => {
  it('checksum is xxh64 with seed 0 (reference vectors)', () => {
    expect(checksum(new Uint8Array(0))).toBe(0xef46db3751d8e999n);
    expect(checksum(new TextEncoder().encode('abc'))).toBe(0x44bc2cf5ad770999n);
  });

  it('checksumString is the 16-hex xxh64 of the UTF-8 bytes', () => {
    for (const text of ['', 'abc', 'héllo ∑ 🙂']) {
      expect(checksumString(text)).toBe(checksum(new TextEncoder().encode(text)).toString(16).padStart(16, '0'));
    }
  });

  it('hashes only the bytes a view covers', () => {
    const bytes = new TextEncoder().encode('xxabcxx');
    expect(checksum(bytes.subarray(2, 5))).toBe(checksum(new TextEncoder().encode('abc')));
  });

  it('inputs above the 1 MiB piece size and streamed pieces of any size give the one-shot digest', () => {
    const bytes = new Uint8Array(3 * (1 << 20) + 12_345).map((_, i) => (i * 31) & 0xff);
    const pieces = streamingChecksum();
    for (let start = 0; start < bytes.length; start += 777_777) pieces.update(bytes.subarray(start, start + 777_777));
    const expected = pieces.digest();
    expect(checksum(bytes)).toBe(expected);
    expect(streamingChecksum().update(bytes).digest()).toBe(expected);
    // Around the boundary between the one-shot and the streamed path.
    for (const length of [(1 << 20) - 1, 1 << 20, (1 << 20) + 1]) {
      const part = bytes.subarray(0, length);
      expect(checksum(part)).toBe(streamingChecksum().update(part.subarray(0, 5)).update(part.subarray(5)).digest());
    }
  });

  it('the embedded wasm is the installed xxhash-wasm release build, byte for byte', () => {
    // The package exports no path to its .wasm: find it beside its CommonJS entry.
    const entry = createRequire(import.meta.url).resolve('xxhash-wasm');
    const release = readFileSync(join(dirname(entry), '..', 'workerd', 'xxhash.wasm'));
    expect(Buffer.from(XXHASH_WASM_BASE64, 'base64').equals(release)).toBe(true);
  });

  it('digests equal xxhash-wasm\'s own h64Raw, h64ToString and create64 on varied inputs', async () => {
    const reference = await xxhash();
    for (const length of [0, 1, 3, 31, 32, 33, 100, 4096, 70_000, (1 << 20) + 17]) {
      const bytes = new Uint8Array(length).map((_, i) => (i * 131 + length) & 0xff);
      expect(checksum(bytes)).toBe(reference.h64Raw(bytes, 0n));
      const pieces = streamingChecksum();
      const other = streamingChecksum(); // interleaved hashers must not share state
      for (let start = 0; start < length; start += 9_999) {
        pieces.update(bytes.subarray(start, start + 9_999));
        other.update(bytes.subarray(0, 7));
      }
      expect(pieces.digest()).toBe(reference.create64(0n).update(bytes).digest());
    }
    for (const text of ['', 'a', 'héllo ∑ 🙂', 'x'.repeat(200_000), '\ud800 lone']) {
      expect(checksumString(text)).toBe(reference.h64ToString(text, 0n));
    }
  });
});

