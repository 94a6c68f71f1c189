"""parallel figures: joblib.Parallel with the loky backend on 2 workers, and
joblib's points for the report's charts."""
import inspect
import statistics
import time

import numpy as np
from joblib import Parallel, delayed

from .timing import doubles, median_ms, median_speedup

# Task functions live in this module, so loky's workers import them by name.


def add2(x):
    return x + 2


def spin(n):
    """Pure-Python CPU work, no I/O, no GIL release: ~n * 40 ns."""
    s = 0
    for i in range(n):
        s += i * i
    return s


def half_sum(a, part):
    half = len(a) // 2
    return float(a[part * half:(part + 1) * half].sum())


def rows_matmul(a, b, start, stop):
    return a[start:stop] @ b


def shutdown_pool():
    """Stop loky's reusable executor, so the next Parallel call starts cold."""
    from joblib.externals.loky import reusable_executor
    executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


def first_result_ms():
    """Cold pool of 2 workers to the first result (to the end of a 2-task call
    on joblib < 1.3, which has no return_as='generator')."""
    shutdown_pool()
    start = time.perf_counter()
    if 'return_as' in inspect.signature(Parallel).parameters:
        results = Parallel(n_jobs=2, return_as='generator')(delayed(add2)(i) for i in range(2))
        next(iter(results))
        elapsed = time.perf_counter() - start
        list(results)
    else:
        Parallel(n_jobs=2)(delayed(add2)(i) for i in range(2))
        elapsed = time.perf_counter() - start
    return elapsed * 1e3


def bench_parallel(cfg, figures, notes):
    pool = Parallel(n_jobs=2, backend='loky', batch_size='auto')
    pool(delayed(add2)(i) for i in range(100))  # start the workers

    n = cfg['trivial_tasks']
    ms = median_ms(lambda: pool(delayed(add2)(i) for i in range(n)), cfg['runs_slow'], warmup=0)
    figures['par.trivial'] = n / (ms / 1e3) / 1e6
    notes['par.trivial'] = f'{n} tasks x + 2, loky, n_jobs=2, batch_size="auto", warm pool'

    figures['par.coldstart'] = statistics.median(first_result_ms() for _ in range(cfg['runs_slow']))
    notes['par.coldstart'] = 'loky executor shut down, then n_jobs=2 to the first result'

    # ~20 ms of pure-Python work per task, calibrated on this machine.
    cpu = [delayed(spin)(int(20 * calibrate_spin())) for _ in range(cfg['cpu_tasks'])]
    figures['par.cpu40'] = median_speedup(lambda: Parallel(n_jobs=1)(cpu), lambda: pool(cpu), cfg['runs_slow'])
    notes['par.cpu40'] = f'{cfg["cpu_tasks"]} pure-Python tasks of ~20 ms, n_jobs=1 time / n_jobs=2 time'

    # A big argument: above max_nbytes ('1M' by default) joblib dumps it once
    # per Parallel call to a file in /dev/shm, and the workers open it as a
    # read-only memmap instead of unpickling a copy; each worker sums its half.
    big = doubles(cfg['bigarg_mb'])
    compute = median_ms(lambda: half_sum(big, 0), cfg['runs_slow'])
    total = median_ms(lambda: pool(delayed(half_sum)(big, part) for part in range(2)), cfg['runs_slow'])
    figures['par.bigarg'] = total - compute
    notes['par.bigarg'] = f'{cfg["bigarg_mb"]} MB float64 argument, 2 tasks each summing half: call time - one half-sum in-process'
    del big

    size = cfg['matmul_n']
    rng = np.random.default_rng(1)
    a, b = rng.random((size, size)), rng.random((size, size))
    expected = a @ b
    blocks = [(0, size // 2), (size // 2, size)]

    def split():
        return np.vstack(pool(delayed(rows_matmul)(a, b, start, stop) for start, stop in blocks))

    if not np.allclose(split(), expected):
        raise RuntimeError('par.matmul: the row-block product differs from a @ b')
    figures['par.matmul'] = median_speedup(lambda: a @ b, split, cfg['runs_slow'])
    notes['par.matmul'] = f'{size}x{size} float64 a @ b: one thread vs 2 row blocks on 2 workers (BLAS 1 thread each)'
    shutdown_pool()


def calibrate_spin():
    """Iterations of spin() per ms of single-thread work on this machine."""
    probe = 200_000
    return probe / median_ms(lambda: spin(probe), 3)


def bench_chart_series(cfg, series):
    """Speedup against n_jobs on ~20 ms CPU-bound tasks, and tasks/s against
    task size (measured single-thread work per task) on 2 workers."""
    per_ms = calibrate_spin()
    cpu = [delayed(spin)(int(20 * per_ms)) for _ in range(cfg['chart_cpu_tasks'])]
    series['speedupByNJobs'] = [{'nJobs': 1, 'speedup': 1.0}]
    for n_jobs in (2, 4):
        pool = Parallel(n_jobs=n_jobs)
        speedup = median_speedup(lambda: Parallel(n_jobs=1)(cpu), lambda: pool(cpu), cfg['runs_slow'])
        series['speedupByNJobs'].append({'nJobs': n_jobs, 'speedup': speedup})

    pool = Parallel(n_jobs=2, batch_size='auto')
    points = []
    for target_us in (0, 10, 100, 1000, 10_000):
        iters = int(target_us / 1e3 * per_ms)
        # Enough tasks for ~0.25 s of single-thread work (and at most 100 000).
        count = 100_000 if target_us == 0 else max(20, min(100_000, int(250_000 / target_us)))
        if cfg['quick']:
            count = max(10, count // 10)
        # Single-thread work of one task, timed over a batch so that tiny tasks
        # are above the clock's resolution.
        batch = min(1000, max(1, 10_000 // max(target_us, 1)))
        work_us = median_ms(lambda: [spin(iters) for _ in range(batch)], 5) * 1e3 / batch
        ms = median_ms(lambda: pool(delayed(spin)(iters) for _ in range(count)), cfg['runs_slow'])
        points.append({'taskUs': work_us, 'tasksPerSecond': count / (ms / 1e3), 'tasks': count})
    series['tasksPerSecondBySize'] = points
    shutdown_pool()
