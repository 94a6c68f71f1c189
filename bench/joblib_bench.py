#!/usr/bin/python3
"""joblib's side of larder's benchmark report.

Measures, with the joblib and numpy this Python has, the analog of every larder
figure that has one, and prints ONE JSON object on stdout:

    {"versions": {...}, "figures": {"<row id>": number, ...}, "series": {...}, "meta": {...}}

Figure ids are the `Row.id`s of bench/*.ts, and units match the larder rows
(GB/s, µs, ms, M tasks/s, ×, MB; `meta.units` per id). `meta.notes` says what
joblib did for each figure. `series` holds joblib's points for the report's
charts (speedup against n_jobs, tasks/s against task size).

Every figure is the median of several runs; all files go to a temporary folder
that is removed at the end. The whole script takes about a minute on 2 cores
(`--quick`: smaller sizes and fewer runs, a few seconds, for the smoke test).
The measurements live in bench/joblib_figures/, one module per larder package.

Run it with Debian's Python: /usr/bin/python3 bench/joblib_bench.py [--quick]
"""
import os

# BLAS must be single-threaded before numpy loads, so that "the same kernel in
# one thread" (par.matmul) really is one thread. loky's workers get one BLAS
# thread each anyway (joblib sets cpu_count // n_jobs in the workers).
for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'BLIS_NUM_THREADS'):
    os.environ[_var] = '1'

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time

import joblib
import numpy as np

# bench/ is sys.path[0] when this file runs as a script; loky's workers get the
# same sys.path, so they import the task functions from joblib_figures too.
from joblib_figures.memory import bench_memory, bench_scale, first_call, write_entry
from joblib_figures.parallel import bench_chart_series, bench_parallel
from joblib_figures.store import bench_store


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
        'scale_entries': 5_000 if quick else 100_000,
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
    parser.add_argument('--only', default='memory,parallel,store,charts,scale',
                        help='comma-separated sections: memory,parallel,store,charts,scale (default: all)')
    parser.add_argument('--tmp', default=None, help='folder for temporary files (default: the system temp dir)')
    parser.add_argument('--write-entry', metavar='LOCATION', help=argparse.SUPPRESS)
    parser.add_argument('--first-call', metavar='LOCATION', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_entry:
        return write_entry(args.write_entry)
    if args.first_call:
        return first_call(args.first_call)

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
        if 'scale' in only:
            bench_scale(cfg, tmp, figures, notes)
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
