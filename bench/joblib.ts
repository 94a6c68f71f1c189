/**
 * joblib's column of the report: runs bench/joblib_bench.py with Debian's
 * Python when it can import joblib and numpy, and parses the one JSON object
 * the script prints.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChartSeries } from './chart-svg.js';

/** The Python that has Debian's python3-joblib and python3-numpy. */
export const PYTHON = '/usr/bin/python3';

/** The script that measures joblib's side of each figure. */
export const JOBLIB_SCRIPT = fileURLToPath(new URL('./joblib_bench.py', import.meta.url));

/** What bench/joblib_bench.py prints. */
export interface JoblibResult {
  /** `python`, `joblib` and `numpy` versions. */
  versions: Record<string, string>;
  /** joblib's figure per row id, in the unit of the larder row with that id. */
  figures: Record<string, number>;
  /** joblib's points for the report's charts (present unless `only` left out 'charts'). */
  series?: Partial<ChartSeries>;
  /** Run details: `quick`, `seconds`, `units` and `notes` (what joblib did) per figure, `sizes`. */
  meta?: {
    quick?: boolean;
    seconds?: number;
    units?: Record<string, string>;
    notes?: Record<string, string>;
    sizes?: Record<string, unknown>;
  };
  /** What the script wrote to stderr, when run with `stderr: 'pipe'`. */
  stderr?: string;
}


/** Options of {@link runJoblib}. */
export interface RunJoblibOptions {
  /**
   * Smaller sizes and fewer runs (a few seconds instead of about two minutes).
   * @default false
   */
  quick?: boolean;
  /**
   * Only these sections of the script: 'memory', 'parallel', 'store', 'charts'.
   * @default all four
   */
  only?: string[];
  /**
   * The script's stderr: 'inherit' passes it through; 'pipe' keeps it, in the
   * error when the script fails and in `JoblibResult.stderr` when it succeeds
   * (joblib 1.2's loky resource tracker prints harmless KeyError tracebacks
   * about memmap files it already removed).
   * @default 'inherit'
   */
  stderr?: 'inherit' | 'pipe';
}

/**
 * Why joblib cannot be measured here, or null when `/usr/bin/python3` imports
 * joblib and numpy.
 *
 * @example
 * const reason = joblibUnavailable();
 * if (reason) console.log(`joblib column empty: ${reason}`);
 */
export function joblibUnavailable(): string | null {
  const probe = spawnSync(PYTHON, ['-c', 'import joblib, numpy'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.error) return `${PYTHON} cannot be run (${probe.error.message})`;
  if (probe.status !== 0) {
    const last = probe.stderr.trim().split('\n').at(-1) ?? `exit code ${probe.status}`;
    return `${PYTHON} cannot import joblib and numpy (${last}); apt-get install python3-joblib python3-numpy`;
  }
  return null;
}

/**
 * Runs bench/joblib_bench.py and returns its figures, or null when
 * `/usr/bin/python3 -c 'import joblib, numpy'` fails (the report then says
 * the joblib column is empty and why, see {@link joblibUnavailable}).
 * A script that fails or prints something other than the expected JSON is an
 * error: a broken baseline should not pass as a missing one.
 *
 * @example
 * const joblib = await runJoblib();
 * for (const row of rows) row.joblib = joblib?.figures[row.id];
 */
export async function runJoblib(options: RunJoblibOptions = {}): Promise<JoblibResult | null> {
  if (joblibUnavailable() !== null) return null;
  try {
    return await runScript(options);
  } catch (error) {
    // joblib 1.2's loky now and then fails to send a task on a loaded machine
    // ("PicklingError: Could not pickle the task to send it to the workers",
    // seen in about one run in ten here). One retry; a second failure is real.
    if (!/PicklingError/.test((error as Error).message)) throw error;
    process.stderr.write(`[larder/bench] joblib_bench.py hit loky's intermittent PicklingError; running it once more\n`);
    return await runScript(options);
  }
}

async function runScript(options: RunJoblibOptions): Promise<JoblibResult> {
  const args = [JOBLIB_SCRIPT];
  if (options.quick) args.push('--quick');
  if (options.only) args.push('--only', options.only.join(','));
  const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', options.stderr ?? 'inherit'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) {
    const tail = withoutTrackerNoise(stderr).trim().split('\n').slice(-15).join('\n');
    throw new Error(`[larder/bench] ${PYTHON} ${args.join(' ')} exited with code ${code}${tail ? `:\n${tail}` : ''}`);
  }
  const result = parseJoblibOutput(stdout);
  if (child.stderr) result.stderr = stderr;
  return result;
}

/**
 * stderr without the tracebacks of loky's resource tracker (joblib 1.2 prints
 * a KeyError for each memmap it already removed), so the script's own error
 * is what a failure shows.
 */
export function withoutTrackerNoise(stderr: string): string {
  const blocks = stderr.split(/^(?=Traceback \(most recent call last\):$)/m);
  return blocks.filter((block) => !block.includes('loky/backend/resource_tracker.py')).join('');
}

/** Parses and checks the script's stdout: one JSON object with `versions` and numeric `figures`. */
export function parseJoblibOutput(stdout: string): JoblibResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (cause) {
    throw new Error(`[larder/bench] joblib_bench.py did not print one JSON object: ${stdout.slice(0, 200)}`, { cause });
  }
  const result = parsed as Partial<JoblibResult> | null;
  if (!result || typeof result.versions !== 'object' || typeof result.figures !== 'object' || !result.figures) {
    throw new Error('[larder/bench] joblib_bench.py output lacks "versions" or "figures"');
  }
  for (const [id, value] of Object.entries(result.figures)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new Error(`[larder/bench] joblib figure ${id} is not a finite number, got ${JSON.stringify(value)}`);
    }
  }
  return result as JoblibResult;
}
