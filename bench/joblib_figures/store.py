"""store figures: joblib.dump / joblib.load, mmap_mode='r', compressed dumps."""
import os

import joblib

from .timing import MB, doubles, median_ms


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

    # Summing a freshly mapped array: its pages come in from the page cache (larder: store.mmapSum80).
    figures['store.mmapSum80'] = median_ms(lambda: float(joblib.load(path, mmap_mode='r').sum()), cfg['runs'])
    notes['store.mmapSum80'] = f'joblib.load(mmap_mode="r") of the {cfg["big_mb"]} MB file, then .sum() (numpy, vectorised)'

    noise = doubles(cfg['big_mb'], random=True)
    for fid, compress in cfg['compressions']:
        packed = os.path.join(tmp, f'{fid}.pkl')
        figures[fid] = median_ms(lambda: joblib.dump(noise, packed, compress=compress), cfg['runs_slow'], warmup=0)
        figures[f'{fid}.mb'] = os.path.getsize(packed) / MB
        notes[fid] = f'joblib.dump(compress={compress!r}) of {cfg["big_mb"]} MB of random doubles; size in {fid}.mb'
        os.remove(packed)
