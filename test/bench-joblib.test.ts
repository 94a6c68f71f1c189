/**
 * Smoke test of joblib's side of the benchmark report: bench/joblib_bench.py
 * --quick runs and prints the JSON that bench/run.ts reads. It needs Debian's
 * python3-joblib and python3-numpy under /usr/bin/python3; without them it is
 * skipped with the reason (CI does not install them, so there it skips).
 */
import { describe, expect, it } from 'vitest';
import { joblibUnavailable, runJoblib } from '../bench/joblib.js';

const unavailable = joblibUnavailable();

describe.skipIf(unavailable !== null)(`bench: joblib_bench.py --quick${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  it('prints versions and a positive number for every figure and chart point', { timeout: 60_000 }, async () => {
    const result = await runJoblib({ quick: true, stderr: 'pipe' });
    expect(result).not.toBeNull();
    const { versions, figures, series, meta } = result!;
    expect(Object.keys(versions).sort()).toEqual(['joblib', 'numpy', 'python']);
    for (const version of Object.values(versions)) expect(version).toMatch(/^\d+\.\d+/);
    expect(meta?.quick).toBe(true);

    // The ids larder's rows use; each present and positive.
    for (const id of [
      'mem.hash80', 'mem.hashSmall', 'mem.hit', 'mem.miss', 'mem.hit80', 'mem.hit80mmap', 'mem.hitArg80',
      'par.trivial', 'par.coldstart', 'par.cpu40', 'par.bigarg', 'par.matmul',
      'store.dump80', 'store.load80', 'store.mmap8', 'store.mmap800', 'store.gzip80',
    ]) {
      expect(figures[id], id).toBeTypeOf('number');
    }
    for (const [id, value] of Object.entries(figures)) {
      expect(value, id).toBeGreaterThan(0);
      expect(meta?.units?.[id], `unit of ${id}`).toBeTruthy();
    }

    expect(series?.speedupByNJobs?.map((point) => point.nJobs)).toEqual([1, 2, 4]);
    expect(series?.tasksPerSecondBySize?.length).toBe(5);
    for (const point of series?.tasksPerSecondBySize ?? []) {
      expect(point.taskUs).toBeGreaterThan(0);
      expect(point.tasksPerSecond).toBeGreaterThan(0);
    }
  });
});

if (unavailable !== null) {
  // Say why in the run's output too, not only in the skipped suite's name.
  console.warn(`[bench-joblib.test] skipped: ${unavailable}`);
}
