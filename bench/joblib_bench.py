#!/usr/bin/python3
"""joblib's side of larder's benchmark report.

Measures, with the joblib and numpy this Python has, the analog of every larder
figure that has one, and prints ONE JSON object on stdout:

    {"versions": {...}, "figures": {"<row id>": number, ...}, "series": {...}, "meta": {...}}

Figure ids are the `Row.id`s of bench/*.ts, and units match the larder rows
(GB/s, µs, ms, M tasks/s, ×, MB; `meta.units` per id). `meta.notes` says what
joblib did for each figure. `series` holds joblib's points for the report's
charts (speedup against n_jobs, tasks/s against task size). Every figure is the median of several runs; all files go to a temporary
folder that is removed at the end, and the whole script takes about two minutes
on 2 cores (`--quick`: smaller sizes and fewer runs, a few seconds, for the
smoke test).

Run it with Debian's Python: /usr/bin/python3 bench/joblib_bench.py [--quick]
"""
import os

# BLAS must be single-threaded before numpy loads, so that "the same kernel in
# one thread" (par.matmul) really is one thread. loky's workers get one BLAS
# thread each anyway (joblib sets cpu_count // n_jobs in the workers).
for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'BLIS_NUM_THREADS'):
    os.environ[_var] = '1'

import argparse
import inspect
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import joblib
import numpy as np
from joblib import Memory, Parallel, delayed

SMALL_ARGS = (1, 2.5, 'abc', {'a': 1, 'b': [1, 2, 3]})
MB = 1_000_000  # sizes are decimal MB, as in "an 80 MB Float64Array" (10 M doubles)


def median_ms(fn, runs, warmup=1):
    """Median wall time of fn() in ms over `runs` timed calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def median_speedup(base, test, runs):
    """Median over `runs` pairs of base time / test time, each pair run back to
    back, so that load from other processes on a shared machine hits both
    sides of a ratio alike instead of skewing one of them."""
    base()
    test()
    ratios = []
    for _ in range(runs):
        start = time.perf_counter()
        base()
        middle = time.perf_counter()
        test()
        ratios.append((middle - start) / (time.perf_counter() - middle))
    return statistics.median(ratios)


def doubles(megabytes, random=False):
    """A float64 array of `megabytes` MB: random doubles (for compression) or a ramp."""
    n = int(megabytes * MB) // 8
    return np.random.default_rng(42).random(n) if random else np.arange(n, dtype=np.float64)


# ---- Functions cached or sent to workers. They live at module level so that
# joblib.Memory finds the same function id (module path + name + source) in
# every process, and loky can pickle them.

CALLS = []  # records real executions, so a "hit" that computes is caught


def small_fn(a, b, c, d):
    CALLS.append('small_fn')
    return a + b


def trivial(x):
    return x + 1


def make_array(n):
    return np.arange(n, dtype=np.float64)


def first_element(a):
    return float(a[0])


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


# ---- memory: joblib.hash and joblib.Memory

def bench_memory(cfg, tmp, figures, notes):
    big = doubles(cfg['big_mb'])
    hash_ms = median_ms(lambda: joblib.hash(big), cfg['runs'])
    figures['mem.hash80'] = big.nbytes / (hash_ms / 1e3) / 1e9
    notes['mem.hash80'] = f'joblib.hash of a {cfg["big_mb"]} MB float64 array (md5 over the pickled bytes)'

    inner = 200 if cfg['quick'] else 2000
    per_call = median_ms(lambda: [joblib.hash(SMALL_ARGS) for _ in range(inner)], cfg['runs'])
    figures['mem.hashSmall'] = per_call / inner * 1e3
    notes['mem.hashSmall'] = "joblib.hash((1, 2.5, 'abc', {'a': 1, 'b': [1, 2, 3]}))"

    # Hit on an entry written by ANOTHER process: a child runs this same file
    # with --write-entry, so the function id (file path + name) and its source
    # match. Here a fresh Memory over that location sees the entry for the first
    # time, exactly like a rerun of a notebook. The first call also checks the
    # stored function source (func_code.py); it is the warm-up, the median is
    # taken over the hits that follow.
    location = os.path.join(tmp, 'hit')
    subprocess.run([sys.executable, os.path.abspath(__file__), '--write-entry', location], check=True)
    cached = Memory(location, verbose=0).cache(small_fn)
    figures['mem.hit'] = median_per_call_us(lambda: cached(*SMALL_ARGS), cfg['calls'])
    if CALLS:
        raise RuntimeError('mem.hit: the entry written by the child process was not a hit')
    notes['mem.hit'] = 'fresh Memory over a location written by another process; small args; per-call median'

    # Miss: distinct arguments each call, so every call hashes, computes, and
    # stores (a folder with output.pkl and metadata.json per entry).
    cached = Memory(os.path.join(tmp, 'miss'), verbose=0).cache(trivial)
    counter = iter(range(10**9))
    figures['mem.miss'] = median_per_call_us(lambda: cached(next(counter)), cfg['calls'])
    notes['mem.miss'] = 'x + 1 with a new x each call, including the store; per-call median'

    n = big.size
    for mmap_mode, fid in ((None, 'mem.hit80'), ('r', 'mem.hit80mmap')):
        cached = Memory(os.path.join(tmp, f'hit80-{mmap_mode}'), mmap_mode=mmap_mode, verbose=0).cache(make_array)
        cached(n)  # the miss that writes the entry
        figures[fid] = median_ms(lambda: cached(n), cfg['runs'])
    notes['mem.hit80'] = f'hit returning a {cfg["big_mb"]} MB array, eager (joblib.load into memory)'
    notes['mem.hit80mmap'] = f'hit returning a {cfg["big_mb"]} MB array, Memory(mmap_mode="r")'

    cached = Memory(os.path.join(tmp, 'hitarg'), verbose=0).cache(first_element)
    cached(big)
    figures['mem.hitArg80'] = median_ms(lambda: cached(big), cfg['runs'])
    notes['mem.hitArg80'] = f'hit whose argument is a {cfg["big_mb"]} MB array (dominated by hashing it)'


def median_per_call_us(fn, calls):
    fn()  # warm-up: first call of a MemorizedFunc checks the function source
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - start) / 1e3)
    return statistics.median(times)


def write_entry(location):
    """Child-process side of mem.hit: store small_fn(*SMALL_ARGS) under location."""
    Memory(location, verbose=0).cache(small_fn)(*SMALL_ARGS)


# ---- parallel: loky backend on 2 workers

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

    # A big argument: joblib hashes it and dumps it to a memmap in /dev/shm
    # (max_nbytes='1M' default) once per call; each worker sums its half.
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


# ---- series for the report's charts (bench/charts.ts measures larder's side)

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


# ---- store: joblib.dump / joblib.load

def bench_store(cfg, tmp, figures, notes):
    arr = doubles(cfg['big_mb'])
    path = os.path.join(tmp, 'a80.pkl')
    figures['store.dump80'] = median_ms(lambda: joblib.dump(arr, path), cfg['runs'])
    figures['store.load80'] = median_ms(lambda: joblib.load(path), cfg['runs'])
    notes['store.dump80'] = f'joblib.dump of a {cfg["big_mb"]} MB float64 array (uncompressed)'
    notes['store.load80'] = 'joblib.load of the same file into memory'

    for fid, megabytes in (('store.mmap8', cfg['big_mb'] / 10), ('store.mmap800', cfg['huge_mb'])):
        small_path = os.path.join(tmp, f'{fid}.pkl')
        joblib.dump(doubles(megabytes), small_path)
        figures[fid] = median_ms(lambda: joblib.load(small_path, mmap_mode='r'), cfg['runs'])
        notes[fid] = f'joblib.load(mmap_mode="r") of a {megabytes:g} MB array file'
        os.remove(small_path)

    noise = doubles(cfg['big_mb'], random=True)
    for fid, compress in cfg['compressions']:
        packed = os.path.join(tmp, f'{fid}.pkl')
        figures[fid] = median_ms(lambda: joblib.dump(noise, packed, compress=compress), cfg['runs_slow'], warmup=0)
        figures[f'{fid}.mb'] = os.path.getsize(packed) / MB
        notes[fid] = f'joblib.dump(compress={compress!r}) of {cfg["big_mb"]} MB of random doubles; size in {fid}.mb'
        os.remove(packed)


def unit_of(fid):
    """The unit of a figure, the same as the larder row with that id."""
    if fid.endswith('.mb'):
        return 'MB'
    return {'mem.hash80': 'GB/s', 'mem.hashSmall': 'µs', 'mem.hit': 'µs', 'mem.miss': 'µs',
            'par.trivial': 'M tasks/s', 'par.cpu40': '×', 'par.matmul': '×'}.get(fid, 'ms')


def config(quick):
    """Sizes and run counts. --quick keeps every figure but shrinks the work ~10x."""
    return {
        'quick': quick,
        'runs': 3 if quick else 7,
        'runs_slow': 2 if quick else 3,
        'calls': 50 if quick else 500,
        'big_mb': 8 if quick else 80,
        'huge_mb': 80 if quick else 800,
        'bigarg_mb': 40 if quick else 400,
        'trivial_tasks': 10_000 if quick else 100_000,
        'cpu_tasks': 8 if quick else 40,
        'chart_cpu_tasks': 8 if quick else 24,
        'matmul_n': 300 if quick else 1000,
        'compressions': [('store.gzip80', ('gzip', 3))] if quick else [
            ('store.zlib80', ('zlib', 3)),  # what compress=True means
            ('store.gzip80', ('gzip', 3)),
            ('store.gzip80.l1', ('gzip', 1)),
            ('store.gzip80.l9', ('gzip', 9)),
        ],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true', help='smaller sizes, fewer runs (smoke test)')
    parser.add_argument('--only', default='memory,parallel,store,charts',
                        help='comma-separated sections: memory,parallel,store,charts (default: all)')
    parser.add_argument('--tmp', default=None, help='folder for temporary files (default: the system temp dir)')
    parser.add_argument('--write-entry', metavar='LOCATION', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_entry:
        return write_entry(args.write_entry)

    cfg = config(args.quick)
    figures, notes, series = {}, {}, {}
    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix='larder-joblib-bench-', dir=args.tmp)
    try:
        only = set(args.only.split(','))
        if 'memory' in only:
            bench_memory(cfg, tmp, figures, notes)
        if 'parallel' in only:
            bench_parallel(cfg, figures, notes)
        if 'store' in only:
            bench_store(cfg, tmp, figures, notes)
        if 'charts' in only:
            bench_chart_series(cfg, series)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    versions = {'python': platform.python_version(), 'joblib': joblib.__version__, 'numpy': np.__version__}
    meta = {'quick': args.quick, 'seconds': round(time.perf_counter() - started, 1),
            'units': {fid: unit_of(fid) for fid in figures}, 'notes': notes,
            'sizes': {k: v for k, v in cfg.items() if k not in ('compressions',)}}
    json.dump({'versions': versions, 'figures': figures, 'series': series, 'meta': meta}, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
