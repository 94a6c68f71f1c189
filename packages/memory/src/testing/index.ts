export { leaseStoreTestSuite, type LeaseSuiteOptions } from './lease-suite.js';
export type { SuiteAssertion, TestApi } from './test-api.js';
