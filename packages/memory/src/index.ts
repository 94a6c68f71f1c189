export { hash } from './hash.js';
export { parseDuration, parseSize } from './units.js';
export { MemoryError, MemoryWarning, HashError, type MemoryErrorCode } from './errors.js';
