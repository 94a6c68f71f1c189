"""memory figures: joblib.hash and joblib.Memory (hits, misses, big values)."""
import os
import subprocess
import sys

import joblib
import numpy as np
from joblib import Memory

from .timing import doubles, median_ms, median_per_call_us

ENTRY_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'joblib_bench.py')
SMALL_ARGS = (1, 2.5, 'abc', {'a': 1, 'b': [1, 2, 3]})

# The cached functions live at module level in a module (not __main__) so that
# joblib.Memory derives the same function id (module + name) and source in
# every process that imports it.

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


def bench_memory(cfg, tmp, figures, notes):
    big = doubles(cfg['big_mb'])
    hash_ms = median_ms(lambda: joblib.hash(big), cfg['runs'])
    figures['mem.hash80'] = big.nbytes / (hash_ms / 1e3) / 1e9
    notes['mem.hash80'] = f'joblib.hash of a {cfg["big_mb"]} MB float64 array (md5 over the pickled bytes)'

    inner = 200 if cfg['quick'] else 2000
    per_call = median_ms(lambda: [joblib.hash(SMALL_ARGS) for _ in range(inner)], cfg['runs'])
    figures['mem.hashSmall'] = per_call / inner * 1e3
    notes['mem.hashSmall'] = "joblib.hash((1, 2.5, 'abc', {'a': 1, 'b': [1, 2, 3]}))"

    # Hit on an entry written by ANOTHER process: a child runs the entry script
    # with --write-entry, which imports this module, so the function id (module
    # + name) and its source match. Here a fresh Memory over that location sees the entry for the first
    # time, exactly like a rerun of a notebook. The first call also checks the
    # stored function source (func_code.py); it is the warm-up, the median is
    # taken over the hits that follow.
    location = os.path.join(tmp, 'hit')
    subprocess.run([sys.executable, ENTRY_SCRIPT, '--write-entry', location], check=True)
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


def write_entry(location):
    """Child-process side of mem.hit: store small_fn(*SMALL_ARGS) under location."""
    Memory(location, verbose=0).cache(small_fn)(*SMALL_ARGS)


def first_call(location):
    """Child of bench_scale: a new process's first call of `trivial` (a hit), in ms, from Memory() to the value."""
    import time
    start = time.perf_counter()
    value = Memory(location, verbose=0).cache(trivial)(7)
    ms = (time.perf_counter() - start) * 1e3
    assert value == 8
    print(ms)


def bench_scale(cfg, tmp, figures, notes):
    """joblib.Memory with many entries of one trivial function: first call in a new process, reduce_size."""
    import time
    n = cfg['scale_entries']
    location = os.path.join(tmp, 'scale')
    cached = Memory(location, verbose=0).cache(trivial)
    for i in range(n):
        cached(i)
    times = []
    for _ in range(3):
        out = subprocess.run([sys.executable, ENTRY_SCRIPT, '--first-call', location], check=True, capture_output=True, text=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    figures['scale.firstCall'] = sorted(times)[1]
    notes['scale.firstCall'] = f'a new process: Memory(location).cache(trivial)(7), a hit, with {n:,} entries of trivial in the location'
    # joblib 1.2's reduce_size takes only bytes_limit (set on the Memory): 90% of the bytes its items hold.
    total = sum(item.size for item in Memory(location, verbose=0).store_backend.get_items())
    start = time.perf_counter()
    Memory(location, verbose=0, bytes_limit=int(total * 0.9)).reduce_size()
    figures['scale.reduce'] = (time.perf_counter() - start) * 1e3
    left = len(Memory(location, verbose=0).store_backend.get_items())
    notes['scale.reduce'] = f'reduce_size with bytes_limit at 90% of {n:,} entries ({n - left:,} removed; it walks the whole tree)'
