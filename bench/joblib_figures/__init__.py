"""joblib's side of larder's benchmark figures, one module per larder package.

Each bench_* function adds figures (keyed by larder's row ids) and notes (what
joblib did) to the dicts it is given. bench/joblib_bench.py runs them.
"""
