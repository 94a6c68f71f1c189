import { describe, expect, it } from 'vitest';
import { checksum, checksumString, streamingChecksum } from '@larder/store-fs/checksum';

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
});
