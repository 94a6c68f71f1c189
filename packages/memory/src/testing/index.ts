/**
 * `@larder/memory/testing`: the conformance suites of Memory's seams, each a
 * function of a factory (like keyv's test-suite), so a store of your own runs
 * the tests larder's run: `indexStoreConformance` (the index store) and
 * `leaseStoreConformance` (the in-flight lease). The entry store's suite is
 * `blobStoreConformance` from `@larder/store-fs/testing`. All three take the
 * same shape: `xxxConformance(factory, { describe, it, expect?, name?, ...capabilities })`.
 */
export { indexStoreConformance, type IndexConformanceOptions } from './index-suite.js';
export type { BodyAggregate, BodyRecord, FunctionCounters, IndexBatch, IndexCapabilities, IndexEntry, IndexStore, PageCursor, PageOptions } from './index-suite.js';
export { leaseStoreConformance, type LeaseConformanceOptions } from './lease-suite.js';
export type { ConformanceRunner, ExpectingRunner } from './runner.js';
