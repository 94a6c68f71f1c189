/**
 * What the conformance suites need from a test runner, passed in by the
 * caller, so @larder/memory never depends on a test runner at run time
 * (the shape of @larder/store-fs/testing's suite). Assertions are node:assert's.
 */

/** vitest's and jest's `describe` and `it` fit as they are. */
export interface ConformanceRunner {
  describe: (name: string, body: () => void) => unknown;
  /** `timeoutMs` (third argument) is given to slow tests: vitest and jest take it there. */
  it: (name: string, body: () => Promise<void>, timeoutMs?: number) => unknown;
}
