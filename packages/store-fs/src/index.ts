export { dump, dumpSync, type DumpInfo } from './dump.js';
export { load, loadSync } from './load.js';
export { closeLoaded } from './mapped-load.js';
export { MappedArray, type Mapped } from './mapped-array.js';
export { FormatError, UnsupportedValueError } from './errors.js';
export { BlobStore, type BlobEntry } from './blob-store.js';
export type { DumpOptions, LoadOptions, CompressionName } from './options.js';
export type { TypedArray, ElementOf, TypedArrayConstructor } from './typed-arrays.js';
export { verify, type VerifyReport } from './verify.js';
