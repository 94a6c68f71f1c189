/**
 * What the conformance suites need from a test runner, passed in by the
 * caller, so @larder/memory never depends on a test runner at run time. One
 * shape for every larder suite: `xxxConformance(factory, { describe, it,
 * expect?, name?, ...capabilities })`, the runner type being store-fs's.
 */
import type { ConformanceRunner } from '@larder/store-fs/testing';

export type { ConformanceRunner };

/** A runner with an `expect` (vitest's or jest's), for the suites whose checks use it. */
export interface ExpectingRunner extends ConformanceRunner {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  expect: (value: unknown) => any;
}
