/** Option validation, nJobs arithmetic, preDispatch expressions, and silence by default. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cpuCount, delayed, effectiveNJobs, Parallel, parallel } from '@larder/parallel';
import { t } from './fixtures/math-tasks.js';

const square = (x: number): number => x * x;

describe('options', () => {
  it('nJobs follows joblib: -1 all, -2 all but one, positive as given, 0 and fractions throw', () => {
    expect(cpuCount()).toBeGreaterThanOrEqual(1);
    expect(effectiveNJobs(-1)).toBe(cpuCount());
    expect(effectiveNJobs(-2)).toBe(Math.max(1, cpuCount() - 1));
    expect(effectiveNJobs(-100)).toBe(1);
    expect(effectiveNJobs(7)).toBe(7);
    expect(effectiveNJobs()).toBe(cpuCount());
    expect(() => effectiveNJobs(0)).toThrow('[larder/parallel] nJobs must be a non-zero integer, got 0');
    expect(() => new Parallel({ nJobs: 1.5 })).toThrow('nJobs must be a non-zero integer, got 1.5');
    // 1e300 is an integer: it started a thread per task, with no dispatch limit to speak of.
    expect(() => new Parallel({ nJobs: 1e300 })).toThrow('nJobs must be between -65536 and 65536 (-1 is every CPU), got 1e+300');
    expect(() => effectiveNJobs(-70_000)).toThrow('nJobs must be between');
    expect(effectiveNJobs(65_536)).toBe(65_536);
  });

  it('bad options name themselves and what they got', () => {
    expect(() => new Parallel({ backend: 'processes' as 'threads' })).toThrow(`backend must be 'threads', 'async', 'sequential' or 'bullmq', got "processes"`);
    expect(() => new Parallel({ batchSize: 0 })).toThrow("batchSize must be 'auto' or a positive integer, got 0");
    expect(() => new Parallel({ timeout: -5 })).toThrow('timeout must be a positive number of milliseconds up to 2147483647 (about 24.8 days; leave it unset for none), got -5');
    expect(() => new Parallel({ maxNbytes: '1 potato' })).toThrow(`maxNbytes must be a byte count ≥ 0, a string such as '1M', or null, got "1 potato"`);
    expect(() => new Parallel({ workerInit: square as never })).toThrow('workerInit must be a task handle from tasks()');
  });

  it('regression: a timeout past what a Node timer keeps (2^31-1 ms) is refused: it fired after 1 ms and stopped every task', async () => {
    const slow = async (x: number): Promise<number> => { await new Promise((resolve) => setTimeout(resolve, 20)); return x; };
    for (const timeout of [2 ** 31, 1e300]) {
      expect(() => new Parallel({ timeout })).toThrow(`timeout must be a positive number of milliseconds up to 2147483647 (about 24.8 days; leave it unset for none), got ${timeout}`);
      await expect(parallel(slow, [1, 2], { backend: 'async', timeout })).rejects.toMatchObject({ code: 'LARDER_OPTION' });
    }
    expect(await parallel(slow, [1, 2], { backend: 'async', timeout: 2 ** 31 - 1 })).toEqual([1, 2]);
  });

  it("maxNbytes takes the size strings @larder/memory takes: '1MB', '1KiB', '1T', '500M'", async () => {
    await using pool = new Parallel({ nJobs: 2, batchSize: 1 });
    const small = new Float64Array(300); // 2400 bytes
    const big = new Float64Array(200_000); // 1.6 MB
    const shared = (data: Float64Array, maxNbytes: string): Promise<boolean[]> => pool.run([delayed(t.isShared)(data)], { maxNbytes });
    expect(await shared(big, '1MB')).toEqual([true]);
    expect(await shared(small, '1MB')).toEqual([false]);
    expect(await shared(small, '1KiB')).toEqual([true]);
    expect(await shared(small, '2k')).toEqual([true]); // 2048 < 2400: base 1024, any case
    expect(await shared(small, '3 kb')).toEqual([false]);
    expect(await shared(big, '500M')).toEqual([false]);
    expect(await shared(big, '1T')).toEqual([false]);
    expect(await shared(big, '1.5MiB')).toEqual([true]);
    expect(() => new Parallel({ maxNbytes: '1XB' })).toThrow(`maxNbytes must be a byte count ≥ 0, a string such as '1M', or null, got "1XB"`);
  });

  it('preDispatch takes all, numbers and arithmetic in nJobs, never code', async () => {
    for (const preDispatch of ['all', 3, '2*nJobs', '3 * n_jobs + 1', '(nJobs + 1) / 2', '-(-nJobs)']) {
      expect(await parallel(square, [1, 2, 3], { backend: 'async', nJobs: 2, preDispatch })).toEqual([1, 4, 9]);
    }
    expect(() => new Parallel({ preDispatch: 'process.exit()' })).toThrow(/preDispatch must be 'all'.*got "process.exit\(\)"/);
    expect(() => new Parallel({ preDispatch: '2*nJobs)' })).toThrow(/unexpected "\)"/);
    expect(() => new Parallel({ preDispatch: 'nJobs - nJobs' })).toThrow(/it gives 0/);
    expect(() => new Parallel({ preDispatch: 0 })).toThrow("preDispatch must be 'all', a positive integer or an expression such as '2*nJobs', got 0");
  });

  it('regression: a preDispatch expression giving a fraction rounds down, at least 1, whatever the CPU count', async () => {
    // 'nJobs/4' is 0.5 on 2 CPUs and 2 on 8: both must work, so tests pin nJobs.
    const mostAtOnce = async (nJobs: number, preDispatch: string): Promise<number> => {
      let running = 0;
      let most = 0;
      const track = async (x: number): Promise<number> => {
        most = Math.max(most, ++running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running--;
        return x;
      };
      const input = Array.from({ length: 12 }, (_, i) => i);
      expect(await parallel(track, input, { backend: 'async', nJobs, batchSize: 1, preDispatch })).toEqual(input);
      return most;
    };
    expect(await mostAtOnce(2, 'nJobs/4')).toBe(1); // 0.5 → 1
    expect(await mostAtOnce(6, 'nJobs/4')).toBe(1); // 1.5 → 1
    expect(await mostAtOnce(8, 'nJobs/4')).toBe(2);
    expect(await mostAtOnce(8, 'nJobs/3')).toBe(2); // 2.67 → 2
    expect(await mostAtOnce(8, '0.1')).toBe(1);
    for (const [preDispatch, gives] of [['nJobs - nJobs', '0'], ['-nJobs/4', '-0.5'], ['1/0', 'Infinity'], ['0/0', 'NaN']]) {
      expect(() => new Parallel({ backend: 'async', nJobs: 2, preDispatch })).toThrow(
        expect.objectContaining({ code: 'LARDER_OPTION', message: expect.stringContaining(`(it gives ${gives}, which is not a positive number)`) }),
      );
    }
  });

  it('regression: deep or long preDispatch expressions are a LARDER_OPTION error, not a stack overflow', () => {
    const deepParens = '('.repeat(100_000) + '1' + ')'.repeat(100_000);
    const deepMinus = '-'.repeat(100_000) + '1';
    for (const preDispatch of [deepParens, deepMinus]) {
      expect(() => new Parallel({ backend: 'sequential', preDispatch })).toThrow(
        expect.objectContaining({ code: 'LARDER_OPTION', message: expect.stringMatching(/^\[larder\/parallel\] preDispatch must be 'all'.*\(longer than 200 characters\)$/) }),
      );
    }
    // Under the length cap, nesting is capped too, with the same message style.
    for (const preDispatch of ['('.repeat(40) + 'nJobs' + ')'.repeat(40), '-'.repeat(80) + 'nJobs', '(-'.repeat(40) + 'nJobs' + ')'.repeat(40)]) {
      expect(() => new Parallel({ backend: 'sequential', preDispatch })).toThrow(/^\[larder\/parallel\] preDispatch must be 'all'.*\(nested deeper than 32 levels\)$/);
    }
    const message = (() => {
      try {
        new Parallel({ backend: 'sequential', preDispatch: deepParens });
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message!.length).toBeLessThan(400); // the expression is quoted shortened, not whole
    expect(new Parallel({ backend: 'sequential', preDispatch: '((((2*nJobs))))' }).nJobs).toBe(1);
    expect(new Parallel({ backend: 'sequential', preDispatch: '-'.repeat(32) + '2' })).toBeDefined();
  });

  it('a closed pool says so', async () => {
    const pool = new Parallel({ backend: 'sequential' });
    await pool.close();
    await expect(pool.map(square, [1])).rejects.toThrow('[larder/parallel] this Parallel was closed; create a new one');
  });
});

describe('output', () => {
  const writes = { stdout: [] as string[], stderr: [] as string[] };
  const capture = (): void => {
    for (const name of ['stdout', 'stderr'] as const) {
      vi.spyOn(process[name], 'write').mockImplementation((chunk: string | Uint8Array) => {
        writes[name].push(String(chunk));
        return true;
      });
    }
  };
  afterEach(() => {
    vi.restoreAllMocks();
    writes.stdout.length = 0;
    writes.stderr.length = 0;
  });

  it('nothing is printed unless verbose or progress asks', async () => {
    capture();
    await parallel(t.square, [1, 2, 3, 4], { nJobs: 2 });
    await parallel(square, [1, 2, 3], { backend: 'async' });
    expect(writes.stdout.join('') + writes.stderr.join('')).toBe('');
  });

  it('regression: more than ten batches in flight print no MaxListenersExceededWarning', () => {
    // Node prints the warning from process 'warning' events, which a spy on
    // stderr in this process would miss; a child process shows what a user sees.
    const program = fileURLToPath(new URL('./fixtures/many-in-flight-main.ts', import.meta.url));
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const run = spawnSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', program], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(run.stdout, run.stderr).toBe('async ok, threads ok\n');
    expect(run.stderr).toBe('');
  });

  it("verbose prints joblib's lines on stderr below 50", async () => {
    capture();
    await parallel(square, Array.from({ length: 10 }, (_, i) => i), { backend: 'sequential', verbose: 10 });
    const lines = writes.stderr.join('').trim().split('\n');
    expect(lines[0]).toBe('[Parallel(nJobs=1)]: Using backend sequential with 1 concurrent worker.');
    expect(lines.some((line) => /^\[Parallel\(nJobs=1\)\]: Done {1,2}\d+ out of 10 \| elapsed: \d+\.\ds remaining: \d+\.\ds$/.test(line))).toBe(true);
    expect(lines.at(-1)).toMatch(/^\[Parallel\(nJobs=1\)\]: Done 10 out of 10 \| elapsed: \d+\.\ds finished$/);
    expect(writes.stdout).toEqual([]);
  });

  it('verbose 50 and above goes to stdout; fewer lines at low verbosity', async () => {
    capture();
    await parallel(square, Array.from({ length: 100 }, (_, i) => i), { backend: 'async', nJobs: 2, verbose: 50 });
    expect(writes.stdout.length).toBeGreaterThan(2);
    expect(writes.stderr).toEqual([]);
    writes.stdout.length = 0;
    await parallel(square, Array.from({ length: 100 }, (_, i) => i), { backend: 'async', nJobs: 2, verbose: 1 });
    const quiet = writes.stderr.length;
    writes.stderr.length = 0;
    await parallel(square, Array.from({ length: 100 }, (_, i) => i), { backend: 'async', nJobs: 2, verbose: 10 });
    expect(quiet).toBeLessThan(writes.stderr.length);
  });
});
