/**
 * How many workers a call gets: joblib's n_jobs rules, and the nesting rule
 * (a call made inside a worker task runs in-process unless nJobs is given).
 */
import { formatValue, ParallelError } from './errors.js';
import { threadState } from './thread-state.js';

// Through getBuiltinModule: an ES import of node:fs runs its lazy getters in
// every worker (entry-script.ts), and node:os is needed only to count CPUs.
const { readFileSync } = process.getBuiltinModule('node:fs');

/**
 * Number of CPUs this process may use: `os.availableParallelism()`, which
 * follows the CPU affinity mask, with the cgroup quota (containers) applied
 * when one is set, never below 1.
 *
 * @example
 * ```ts
 * import { cpuCount } from '@larder/parallel';
 * console.log(`running on ${cpuCount()} CPUs`);
 * ```
 */
export function cpuCount(): number {
  const available = process.getBuiltinModule('node:os').availableParallelism();
  const quota = cgroupCpuQuota();
  return Math.max(1, quota === undefined ? available : Math.min(available, quota));
}

let cachedQuota: number | undefined | null = null;

// Node's availableParallelism ignores cgroup CPU limits (docker --cpus), which
// joblib honours through loky; read cgroup v2's cpu.max once.
function cgroupCpuQuota(): number | undefined {
  if (cachedQuota !== null) return cachedQuota;
  cachedQuota = undefined;
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota && period && quota !== 'max') cachedQuota = Math.max(1, Math.floor(Number(quota) / Number(period)));
  } catch {
    // No cgroup v2 file: not in a limited container.
  }
  return cachedQuota;
}

/** The largest |nJobs| taken: far more workers or concurrent calls than any machine runs. */
export const MAX_NJOBS = 65_536;

/**
 * Resolves joblib's `n_jobs`: a positive number as given (it may exceed the
 * CPU count, which suits tasks that wait), -1 all CPUs, -2 all but one, and
 * below -1 `cpuCount() + 1 + nJobs`, never below 1. 0, non-integers and values beyond ±MAX_NJOBS throw.
 *
 * @example
 * ```ts
 * import { effectiveNJobs } from '@larder/parallel';
 * effectiveNJobs(-1); // cpuCount()
 * effectiveNJobs(-2); // cpuCount() - 1, at least 1
 * ```
 */
export function effectiveNJobs(nJobs = -1): number {
  if (typeof nJobs !== 'number' || !Number.isInteger(nJobs) || nJobs === 0) {
    throw new ParallelError('LARDER_OPTION', `nJobs must be a non-zero integer, got ${formatValue(nJobs)}`);
  }
  // Past this it is a slip, not a plan (1e300 meant "all of them"): the threads backend would start a
  // thread per task, and the dispatch limit '2*nJobs' would hold nothing back.
  if (Math.abs(nJobs) > MAX_NJOBS) {
    throw new ParallelError('LARDER_OPTION', `nJobs must be between -${MAX_NJOBS} and ${MAX_NJOBS} (-1 is every CPU), got ${formatValue(nJobs)}`);
  }
  if (nJobs > 0) return nJobs;
  return Math.max(1, cpuCount() + 1 + nJobs);
}

/** Marks this thread as a worker running tasks (nested calls then default to in-process). */
export function markWorkerThread(): void {
  threadState().inWorkerTask = true;
}

/** Whether this thread is one of our workers. */
export function inWorkerThread(): boolean {
  return threadState().inWorkerTask;
}
