export { leaseStoreConformance, type LeaseConformanceOptions } from './lease-suite.js';
export type { ConformanceRunner } from './runner.js';
