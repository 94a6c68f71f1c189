/**
 * Fresh large buffers on huge pages (huge-pages.ts): eager loads read into
 * memory advised with MADV_HUGEPAGE before its first write, and
 * adviseHugePages does the same for other code's fresh buffers. The advice
 * never changes a byte, and without the addon everything works as before,
 * silently (only the first fill is slower).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adviseHugePages, dump, dumpSync, load, loadSync } from '@larder/store-fs';
import { freshBytes, HUGE_PAGES_FROM } from '../src/huge-pages.js';
import { disableAddonForTests, nativeAddon } from '../src/native.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
const MiB = 1 << 20;
/** Huge pages can be advised here: the addon loads and the kernel has transparent huge pages. */
const hugePages = (nativeAddon()?.hugePageSize() ?? 0) > 0;
const pattern = (n: number): Float64Array => Float64Array.from({ length: n }, (_, i) => i * 0.25 - 7);
/** Byte equality of two views (a deep equality of millions of elements takes vitest seconds). */
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView): boolean =>
  Buffer.compare(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) === 0;

/** Names of this process's memory areas that carry the huge-page advice (VmFlags `hg` in /proc/self/smaps). */
function advisedAreas(): number {
  return fs.readFileSync('/proc/self/smaps', 'utf8').split('\n').filter((line) => line.startsWith('VmFlags:') && / hg( |$)/.test(line)).length;
}

afterEach(() => disableAddonForTests(false));

describe('adviseHugePages', () => {
  it.runIf(hugePages)('advises fresh Buffers and SharedArrayBuffers of 4 MiB and more, and the kernel records the advice', () => {
    const before = advisedAreas();
    const plain = Buffer.allocUnsafeSlow(8 * MiB);
    const shared = new Uint8Array(new SharedArrayBuffer(8 * MiB));
    expect(adviseHugePages(plain)).toBe(true);
    expect(adviseHugePages(shared)).toBe(true);
    expect(advisedAreas()).toBeGreaterThan(before);
    plain.fill(5);
    shared.fill(6);
    expect(plain.every((byte) => byte === 5) && shared.every((byte) => byte === 6)).toBe(true);
  });

  it('leaves written bytes as they are (advice on memory in use changes nothing)', () => {
    const values = pattern(MiB); // 8 MiB, written before the advice
    const copy = values.slice();
    adviseHugePages(values);
    expect(sameBytes(values, copy)).toBe(true);
    const view = new DataView(values.buffer, 3, 6 * MiB); // an unaligned view: only whole huge pages inside it are advised
    adviseHugePages(view);
    expect(sameBytes(values, copy)).toBe(true);
  });

  it('gives no advice below 4 MiB or without the addon, silently', () => {
    const warnings: Error[] = [];
    const listen = (warning: Error): number => warnings.push(warning);
    process.on('warning', listen);
    try {
      expect(adviseHugePages(new Uint8Array(HUGE_PAGES_FROM - 1))).toBe(false);
      disableAddonForTests(true);
      expect(adviseHugePages(new Uint8Array(8 * MiB))).toBe(false);
    } finally {
      process.off('warning', listen);
    }
    expect(warnings).toStrictEqual([]);
  });

  it('rejects what is not a typed array or DataView with LARDER_OPTION', () => {
    for (const bad of [new ArrayBuffer(8 * MiB), [1, 2, 3], null, 'bytes']) {
      expect(() => adviseHugePages(bad as unknown as ArrayBufferView)).toThrow(expect.objectContaining({ code: 'LARDER_OPTION', message: expect.stringMatching(/^\[larder\/store-fs\] view must be a typed array or DataView, got /) }));
    }
  });
});

describe('freshBytes: the buffers eager loads read into', () => {
  for (const shared of [false, true]) {
    it(`${shared ? 'shared' : 'unshared'}: the exact size, at a multiple of 64, and on huge pages from their start`, () => {
      const size = 10 * MiB + 12_345;
      const bytes = freshBytes(size, shared);
      expect(bytes.length).toBe(size);
      expect(bytes.byteOffset % 64).toBe(0);
      expect(bytes.buffer instanceof SharedArrayBuffer).toBe(shared);
      if (hugePages) {
        // Over-allocated by two huge pages and started at most 48 bytes after the first boundary inside
        // (to keep the multiple of 64): the first boundary inside the bytes is then their start or one huge page on.
        const huge = nativeAddon()!.hugePageSize();
        expect(bytes.buffer.byteLength).toBe(size + 2 * huge + 64);
        const first = nativeAddon()!.adviseHugePages(bytes);
        expect(first === 0 || (first > huge - 64 && first < huge)).toBe(true);
      }
      const values = pattern(size >> 3);
      bytes.set(new Uint8Array(values.buffer));
      expect(sameBytes(bytes.subarray(0, values.byteLength), values)).toBe(true);
    });
  }

  it('below 4 MiB, and where the addon is missing, a plain buffer of its own', () => {
    expect(freshBytes(HUGE_PAGES_FROM - 1, false).buffer.byteLength).toBe(HUGE_PAGES_FROM - 1);
    disableAddonForTests(true);
    for (const shared of [false, true]) {
      const bytes = freshBytes(8 * MiB, shared);
      expect([bytes.byteOffset, bytes.buffer.byteLength, bytes.buffer instanceof SharedArrayBuffer]).toStrictEqual([0, 8 * MiB, shared]);
    }
  });
});

describe('eager loads of large files', () => {
  const values = pattern(1_500_000); // 12 MB
  const file = path.join(dir, 'large.larder');
  dumpSync({ x: values, label: 'big' }, file);

  const modes = [
    ['loadSync', () => loadSync<{ x: Float64Array; label: string }>(file)],
    ['load', () => load<{ x: Float64Array; label: string }>(file)],
    ['load shared', () => load<{ x: Float64Array; label: string }>(file, { shared: true })],
    ['load verify: false', () => load<{ x: Float64Array; label: string }>(file, { verify: false })],
  ] as const;
  for (const withAddon of [true, false]) {
    for (const [name, read] of modes) {
      it(`${name}${withAddon ? '' : ', addon missing'}: the same values, 64-aligned, and no warning`, async () => {
        const warnings: Error[] = [];
        const listen = (warning: Error): number => warnings.push(warning);
        process.on('warning', listen);
        try {
          disableAddonForTests(!withAddon);
          const loaded = await read();
          expect(loaded.label).toBe('big');
          expect(sameBytes(loaded.x, values)).toBe(true);
          expect(loaded.x.byteOffset % 64).toBe(0);
          expect(loaded.x.buffer instanceof SharedArrayBuffer).toBe(name === 'load shared');
          await new Promise((resolve) => setImmediate(resolve));
        } finally {
          process.off('warning', listen);
        }
        expect(warnings).toStrictEqual([]);
      });
    }
  }

  it('a compressed large file inflates into fresh memory too, with the same values', async () => {
    const packed = path.join(dir, 'large.gz.larder');
    await dump({ x: values }, packed, { compress: true });
    expect(sameBytes((await load<{ x: Float64Array }>(packed)).x, values)).toBe(true);
    expect(sameBytes(loadSync<{ x: Float64Array }>(packed, { shared: true }).x, values)).toBe(true);
  });

  it('a checksum mismatch in a large segment is still a FormatError', () => {
    const broken = path.join(dir, 'large-broken.larder');
    fs.copyFileSync(file, broken);
    const fd = fs.openSync(broken, 'r+');
    fs.writeSync(fd, Uint8Array.of(0xff), 0, 1, fs.fstatSync(fd).size - 100);
    fs.closeSync(fd);
    expect(() => loadSync(broken)).toThrow(expect.objectContaining({ code: 'LARDER_FORMAT' }));
  });
});
