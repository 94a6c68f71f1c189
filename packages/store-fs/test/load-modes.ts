import type { LoadOptions } from '@larder/store-fs';
import { disableAddonForTests } from '../src/native.js';

/** Every way a file can be loaded, mmap with every array mapped (threshold 0), for tests that try each. */
export const LOAD_MODES: [string, LoadOptions][] = [
  ['eager', {}],
  ['shared', { shared: true }],
  ['mmap', { mmap: 'r', mmapThreshold: 0 }],
];

/** mmap where the addon cannot load: MappedArrays (run the load through {@link inMode}). */
export const FALLBACK_MODE: [string, LoadOptions] = ['mmap-fallback', { mmap: 'r', mmapThreshold: 0 }];

/** Loads as `mode` asks: 'mmap-fallback' with the addon disabled for the duration of the call. */
export function inMode<T>(mode: string, body: () => T): T {
  if (mode !== 'mmap-fallback') return body();
  disableAddonForTests(true, false);
  try {
    return body();
  } finally {
    disableAddonForTests(false, false);
  }
}
