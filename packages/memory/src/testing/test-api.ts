/**
 * The few test-runner functions the conformance suites use, passed in by the
 * caller (vitest's `describe`, `it`, `expect`; jest's and node:test-with-expect
 * fit too), so @larder/memory never depends on a test runner at run time.
 */

/** The assertions the suites make. */
export interface SuiteAssertion {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toBeLessThanOrEqual(expected: number): void;
  toBeGreaterThanOrEqual(expected: number): void;
}

/** What a conformance suite needs from the test runner. */
export interface TestApi {
  describe(name: string, body: () => void): unknown;
  it(name: string, body: () => Promise<void>, timeoutMs?: number): unknown;
  expect(actual: unknown): SuiteAssertion;
}
