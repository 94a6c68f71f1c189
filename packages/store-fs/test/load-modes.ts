import type { LoadOptions } from '@larder/store-fs';

/** Every way a file can be loaded, mmap with every array mapped (threshold 0), for tests that try each. */
export const LOAD_MODES: [string, LoadOptions][] = [
  ['eager', {}],
  ['shared', { shared: true }],
  ['mmap', { mmap: 'r', mmapThreshold: 0 }],
];
