/**
 * Fresh memory at the hardware's pace. The first write to each 4 KiB page of
 * a fresh buffer is a page fault: about 20 ms per 80 MB on ordinary hardware,
 * 350 ms in a Firecracker VM (~15 µs a fault), against ~10 ms for the copy
 * itself. numpy asks for transparent huge pages on every allocation of 4 MiB
 * and more (one fault per 2 MiB), which is most of why its loads beat a plain
 * read into a Node buffer. store-fs does the same through its addon for the
 * buffers it fills (eager loads, inflated payloads, S3 downloads), and
 * exports the advice for other large fresh buffers (Parallel's shared copies).
 */
import { Buffer, constants as bufferConstants } from 'node:buffer';
import { badOption } from './errors.js';
import { nativeAddon } from './native.js';

/** From this many bytes a fresh buffer is advised (numpy's threshold: below it a huge page or two are not worth a system call). */
export const HUGE_PAGES_FROM = 4 << 20;

/**
 * Offsets of typed arrays in a loaded file are multiples of 64 from the
 * file's start (the format aligns segments so): a buffer placed inside a
 * larger one starts at a multiple of this.
 */
const FILE_ALIGN = 64;

/**
 * Asks the kernel to back the memory under `view` with transparent huge
 * pages: call it on a fresh buffer of 4 MiB or more before its first write,
 * and filling it costs one page fault per 2 MiB instead of one per 4 KiB
 * (memory already written keeps its pages, and may be merged later). Only
 * the whole huge pages inside the view are advised, nothing around it, and no
 * byte changes. Returns whether advice was given: false below 4 MiB, where
 * the store-fs addon does not load (no warning: the buffer works the same,
 * only its first fill is slower), or where the system has no transparent
 * huge pages. Works on ArrayBuffer and SharedArrayBuffer views alike.
 *
 * @example
 * ```ts
 * import { adviseHugePages } from '@larder/store-fs';
 * const samples = new Float64Array(new SharedArrayBuffer(8 * 10_000_000));
 * adviseHugePages(samples); // true on Linux with the addon: the fill below faults 2 MiB at a time
 * samples.fill(1);
 * ```
 */
export function adviseHugePages(view: ArrayBufferView): boolean {
  if (!ArrayBuffer.isView(view)) throw badOption('view', 'a typed array or DataView', view);
  if (view.byteLength < HUGE_PAGES_FROM) return false;
  const addon = nativeAddon();
  return addon !== undefined && addon.adviseHugePages(view) >= 0;
}

/**
 * `size` fresh, unfilled bytes starting at a multiple of 64 in their own
 * (Shared)ArrayBuffer. From 4 MiB, where the addon loads and the system has
 * transparent huge pages, the buffer is over-allocated by two huge pages and
 * the bytes start at the first huge-page boundary inside it, all of them
 * advised: the advice can only cover whole huge pages, and the up to 4 MiB of
 * 4 KiB pages left at the two ends of an unaligned buffer cost as much to
 * fill as the 76 MB of huge pages between them (measured: an 80 MB read, 32
 * ms advised as it lies, 17 ms aligned). The slack before the bytes is never
 * touched, so it takes address space, not memory; after them at most part of
 * one huge page is resident.
 */
export function freshBytes(size: number, shared: boolean): Uint8Array {
  const addon = size >= HUGE_PAGES_FROM ? nativeAddon() : undefined;
  const huge = addon?.hugePageSize() ?? 0;
  if (huge === 0 || size + 2 * huge + FILE_ALIGN > bufferConstants.MAX_LENGTH) return plainBytes(size, shared);
  const whole = plainBytes(size + 2 * huge + FILE_ALIGN, shared);
  const first = addon!.adviseHugePages(whole);
  if (first < 0) return whole.subarray(0, size);
  const start = Math.ceil((whole.byteOffset + first) / FILE_ALIGN) * FILE_ALIGN - whole.byteOffset;
  return whole.subarray(start, start + size);
}

function plainBytes(size: number, shared: boolean): Uint8Array {
  return shared ? new Uint8Array(new SharedArrayBuffer(size)) : Buffer.allocUnsafeSlow(size);
}
