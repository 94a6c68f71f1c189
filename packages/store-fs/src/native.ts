/**
 * The optional Node-API addon (native/larder_mmap.c): real copy-on-write
 * memory maps, a native xxh64 and huge-page advice for fresh buffers. Loaded on first use, never at import, from
 * the prebuilt binary shipped in prebuilds/<platform>-<arch>/ or, on other
 * platforms, from a node-gyp build in native/build/. Where neither loads (or
 * `LARDER_NO_MMAP_ADDON=1` disables it), callers fall back to positioned reads
 * and the first of them warns once with code LARDER_MISSING_DRIVER.
 */
import { createRequire } from 'node:module';
import { PREFIX } from './errors.js';

export interface Addon {
  /** `length` bytes of the open file `fd` from `offset` (page-aligned), mapped MAP_PRIVATE (copy-on-write); unmapped at collection. */
  map(fd: number, offset: number, length: number, uncount: boolean): ArrayBuffer;
  /** xxh64, seed 0, of the bytes the view covers. */
  xxh64(view: ArrayBufferView): bigint;
  /** Whether every page under the view still holds its file's bytes (none written by this process); null where the system cannot tell. */
  pristine(view: ArrayBufferView): boolean | null;
  /** madvise(MADV_HUGEPAGE) on the whole huge pages inside the view's bytes: the offset in the view of the first, or -1 where none was advised. */
  adviseHugePages(view: ArrayBufferView): number;
  /** Bytes in a transparent huge page; 0 where the system has none. */
  hugePageSize(): number;
  /** open(folder, O_TMPFILE | O_WRONLY): a descriptor of a new file with no name, or -errno (-ENOSYS without O_TMPFILE). */
  openUnnamed(folder: string): number;
  /** linkat() the unnamed file `fd` to `target` (never replacing it): 0, or -errno (-EEXIST when `target` exists). */
  linkUnnamed(fd: number, target: string): number;
  /** close() a descriptor of openUnnamed (not fs.closeSync: Node's worker threads track what fs opened): 0, or -errno. */
  closeUnnamed(fd: number): number;
}

let addon: Addon | undefined;
let failure: string | undefined;
let warned = false;
let disabledForTests = false;

/** Where the addon may be, in order: the shipped prebuild, then a local node-gyp build. */
const CANDIDATES = [`../prebuilds/${process.platform}-${process.arch}/larder_mmap.node`, '../native/build/Release/larder_mmap.node'];

function tryLoad(): void {
  if (addon !== undefined || failure !== undefined) return;
  if (process.env.LARDER_NO_MMAP_ADDON === '1') {
    failure = 'LARDER_NO_MMAP_ADDON=1 disables it';
    return;
  }
  const require = createRequire(import.meta.url);
  const reasons: string[] = [];
  for (const candidate of CANDIDATES) {
    try {
      addon = require(candidate) as Addon;
      return;
    } catch (error) {
      reasons.push((error as Error).message.split('\n')[0]!);
    }
  }
  failure = `no build of the addon loads on ${process.platform}-${process.arch} (${reasons.join('; ')})`;
}

/** The addon, or undefined where it cannot load (callers then fall back and {@link warnNoMapping}). */
export function nativeAddon(): Addon | undefined {
  if (disabledForTests) return undefined;
  tryLoad();
  return addon;
}

/**
 * V8 before 13 (Node 20 and 22) lets map() take a mapping's bytes off its external memory count for good,
 * so mappings of up to 64 MiB start no collections (a larger one still starts one as it is created: see
 * native/larder_mmap.c); V8 13+ (Node 24, Deno) aborts when that count goes below zero.
 * Bun's engine does not count them, which the addon detects itself.
 */
export const UNCOUNT_MAPPINGS = Number((process.versions.v8 ?? '99').split('.')[0]) < 13 && !('Deno' in globalThis);

/**
 * Warns, once per process, that mapped loads fall back to MappedArrays (positioned reads), and why.
 * `reason` names a mapping that failed though the addon loaded.
 */
export function warnNoMapping(reason = disabledForTests ? 'disabled by a test' : failure): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`${PREFIX} real memory maps are unavailable: ${reason}. mmap: 'r' loads return MappedArrays (positioned reads) instead of typed arrays over the file. Build the addon with node-gyp in the package's native/ folder (see the README's "Memory maps") to get them.`, { code: 'LARDER_MISSING_DRIVER' });
}

/** For tests: behave as where the addon cannot load (or again as usual); `resetWarning` forgets the once-only warning. @internal */
export function disableAddonForTests(disabled: boolean, resetWarning = true): void {
  disabledForTests = disabled;
  if (resetWarning) warned = false;
}
