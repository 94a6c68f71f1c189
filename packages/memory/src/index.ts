export { Memory } from './memory.js';
export type { CachedFunction, Cacheable } from './cached-function.js';
export type { ShelvedResult } from './shelved.js';
export { MEMORY_DEFAULTS, type MemoryOptions, type CacheOptions, type CallInfo } from './options.js';
export type { ReduceSizeOptions, ReduceSizeResult } from './reduce-size.js';
export type { CacheStats, FunctionStats, EntrySummary } from './stats.js';
export { hash } from './hash.js';
export { parseDuration, parseSize } from './units.js';
export { MemoryError, MemoryWarning, HashError, type MemoryErrorCode } from './errors.js';
