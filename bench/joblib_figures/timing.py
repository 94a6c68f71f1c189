"""Timing helpers: medians of several runs, as bench/harness.ts does for larder."""
import statistics
import time

import numpy as np

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


def median_per_call_us(fn, calls):
    fn()  # warm-up: first call of a MemorizedFunc checks the function source
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - start) / 1e3)
    return statistics.median(times)
