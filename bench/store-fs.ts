/**
 * @larder/store-fs benchmarks: each figure next to the raw fs operation on the
 * same bytes, measured in the same run. Run alone with `pnpm tsx bench/store-fs.ts`.
 *
 * Every dump goes to a new file name: on ext4, replacing an existing file
 * (O_TRUNC or rename over it) forces a data flush, which would measure the
 * disk instead of the format. Data lives under os.tmpdir() and is removed.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { dump, dumpSync, FolderStore, load, loadSync, MappedArray, type DumpOptions } from '@larder/store-fs';
import { median, medianMs, medianPerCallMs, table, type Row } from './harness.js';

const MB80 = 10_000_000; // Float64 elements: 80 MB

function row(r: Omit<Row, 'ratio' | 'met'> & { ratio?: number }, goal: (ratio: number, larder: number) => boolean): Row {
  const ratio = r.ratio ?? r.larder / r.baseline;
  return { ...r, ratio, met: goal(ratio, r.larder) };
}

export async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-store-'));
  let n = 0;
  const fresh = (): string => join(dir, `f${n++}.larder`);
  // Removes what a timed step wrote, outside the timing, so the disk does not fill up.
  const written: string[] = [];
  const next = (): string => {
    for (const file of written.splice(0)) rmSync(file, { force: true });
    const file = fresh();
    written.push(file);
    return file;
  };
  try {
    const big = new Float64Array(MB80).map((_, i) => i * 0.5);
    const bytes = new Uint8Array(big.buffer);

    const rawWrite = await medianMs(() => writeFileSync(next(), bytes), 7, 1);
    const dumpMs = await medianMs(() => dump(big, next()), 7, 1);
    const dumpSyncMs = await medianMs(() => dumpSync(big, next()), 7, 1);
    rows.push(
      row({ id: 'store.dump80', figure: 'dump 80 MB Float64Array', larder: dumpMs, baseline: rawWrite, baselineName: 'fs.writeFileSync', unit: 'ms', goal: '≤ 1.1× baseline' }, (r) => r <= 1.1),
      row({ id: 'store.dumpSync80', figure: 'dumpSync 80 MB Float64Array', larder: dumpSyncMs, baseline: rawWrite, baselineName: 'fs.writeFileSync', unit: 'ms', goal: '≤ 1.1× baseline' }, (r) => r <= 1.1),
    );

    const file80 = fresh();
    await dump(big, file80);
    const rawRead = await medianMs(() => readFileSync(file80), 7, 1);
    const loadMs = await medianMs(() => load(file80), 7, 1);
    const loadSyncMs = await medianMs(() => loadSync(file80), 7, 1);
    const loadNoVerify = await medianMs(() => load(file80, { verify: false }), 7, 1);
    const sharedMs = await medianMs(() => load(file80, { shared: true }), 7, 1);
    rows.push(
      row({ id: 'store.load80', figure: 'load 80 MB (every segment checksum verified)', larder: loadMs, baseline: rawRead, baselineName: 'fs.readFileSync', unit: 'ms', goal: '≤ 1.1× baseline' }, (r) => r <= 1.1),
      row({ id: 'store.loadSync80', figure: 'loadSync 80 MB (verified)', larder: loadSyncMs, baseline: rawRead, baselineName: 'fs.readFileSync', unit: 'ms', goal: '≤ 1.1× baseline' }, (r) => r <= 1.1),
      row({ id: 'store.load80.noverify', figure: 'load 80 MB, verify: false', larder: loadNoVerify, baseline: rawRead, baselineName: 'fs.readFileSync', unit: 'ms', goal: '≤ 1.1× baseline' }, (r) => r <= 1.1),
      row({ id: 'store.shared80', figure: 'load 80 MB, shared: true', larder: sharedMs, baseline: loadMs, baselineName: 'eager load', unit: 'ms', goal: 'report (≈ 1×)' }, () => true),
    );

    // mmap open time: header + manifest only, so flat in the file size.
    const file8 = fresh();
    await dump({ x: big.subarray(0, MB80 / 10) }, file8);
    const file800 = fresh();
    const huge = new Float64Array(MB80 * 10);
    huge.set(big);
    await dump({ x: huge }, file800);
    // A real memory map where store-fs's addon loads (a MappedArray, closed here, where it does not).
    const mapped = loadSync<{ x: Float64Array }>(file8, { mmap: 'r' }).x;
    const kind = mapped instanceof MappedArray ? 'MappedArray' : 'mapped Float64Array';
    const open = (file: string) => (): void => {
      const value = loadSync<{ x: Float64Array }>(file, { mmap: 'r' });
      if (value.x instanceof MappedArray) value.x.close();
    };
    const mmap8 = medianPerCallMs(open(file8), 200, 9);
    const mmap800 = medianPerCallMs(open(file800), 200, 9);
    rows.push(
      row({ id: 'store.mmap8', figure: `load 8 MB file, mmap: 'r' (${kind})`, larder: mmap8, baseline: NaN, baselineName: '', unit: 'ms', ratio: mmap8 / 0.1, goal: '≤ 0.1 ms' }, (_r, v) => v <= 0.1),
      row({ id: 'store.mmap800', figure: `load 800 MB file, mmap: 'r' (${kind})`, larder: mmap800, baseline: mmap8, baselineName: '8 MB file', unit: 'ms', goal: '≤ 0.1 ms, flat in size' }, (r, v) => v <= 0.1 && r <= 1.5),
    );
    rmSync(file800);

    // Reading a whole mapped array: a fresh mapping each time (its pages fault in from the page cache) against an array in memory.
    const sum = (x: Float64Array): number => {
      let total = 0;
      for (let i = 0; i < x.length; i++) total += x[i]!;
      return total;
    };
    if (!(mapped instanceof MappedArray)) {
      const inMemory = await medianMs(() => void sum(big), 9, 2);
      const mappedSum = await medianMs(() => void sum(loadSync<Float64Array>(file80, { mmap: 'r' }) as Float64Array), 9, 2);
      rows.push(
        row({ id: 'store.mmapSum80', figure: 'sum of an 80 MB mapped Float64Array (fresh mapping, load included)', larder: mappedSum, baseline: inMemory, baselineName: 'same sum in memory', unit: 'ms', goal: '≤ 1.2× baseline' }, (r) => r <= 1.2),
      );
    }

    rows.push(...(await folderStoreRows(dir)));

    // Small values: the cache-hit path of @larder/memory.
    const small = fresh();
    dumpSync({ sum: 4.5, c: 'abc', n: 3, list: [1, 2, 3] }, small);
    const smallRaw = medianPerCallMs(() => readFileSync(small), 2000, 9) * 1000;
    const smallLoad = medianPerCallMs(() => loadSync(small), 2000, 9) * 1000;
    rows.push(
      row({ id: 'store.loadSmall', figure: `loadSync of a small value (${statSync(small).size} B file)`, larder: smallLoad, baseline: smallRaw, baselineName: 'fs.readFileSync', unit: 'µs', goal: '≤ 10 µs' }, (_r, v) => v <= 10),
    );

    // Compressed dumps of 80 MB random doubles: time (one run each: they take seconds) and size.
    const random = new Float64Array(MB80).map(() => Math.random());
    const methods: [string, string, DumpOptions['compress']][] = [
      ['store.gzip80', 'gzip 3 (compress: true)', true],
      ['store.gzip80.l1', 'gzip 1', { method: 'gzip', level: 1 }],
      ['store.gzip80.l9', 'gzip 9', { method: 'gzip', level: 9 }],
      ['store.brotli80', 'brotli 4', 'brotli'],
    ];
    const rawRandom = await medianMs(() => writeFileSync(next(), new Uint8Array(random.buffer)), 3, 1);
    for (const [id, name, compress] of methods) {
      let info = { bytes: NaN };
      const ms = await medianMs(async () => {
        info = await dump(random, next(), { compress });
      }, 1, 0);
      rows.push(
        row({ id, figure: `dump 80 MB random doubles, ${name}`, larder: ms, baseline: rawRandom, baselineName: 'fs.writeFileSync', unit: 'ms', goal: 'report' }, () => true),
        row({ id: `${id}.mb`, figure: `file size, ${name}`, larder: info.bytes / 1e6, baseline: random.byteLength / 1e6, baselineName: 'raw bytes', unit: 'MB', goal: 'report' }, () => true),
      );
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The i-th key of a bench store: a 16-hex-digit name, as @larder/memory's argument hashes are. */
const hexKey = (i: number): string => `f/${(BigInt(i + 1) * 0x9e3779b97f4a7c15n % (1n << 64n)).toString(16).padStart(16, '0')}`;

/** Median µs per call of `fn(i)` over `count` different i, in 9 samples. */
function perCallUs(fn: (i: number) => unknown, count: number): number {
  const times: number[] = [];
  for (let sample = 0; sample < 9; sample++) {
    const start = performance.now();
    for (let i = 0; i < count; i++) fn(sample * count + i);
    times.push(((performance.now() - start) / count) * 1000);
  }
  return median(times);
}

/**
 * FolderStore at scale: a hit (getSync, get) in a store of 10^3 keys and one of
 * `large` keys in one folder, and small puts next to a raw temp-file write +
 * rename of the same bytes. `large` is 10^5 by default (LARDER_BENCH_STORE_KEYS).
 */
export async function folderStoreRows(dir: string, large = Number(process.env.LARDER_BENCH_STORE_KEYS ?? 100_000)): Promise<Row[]> {
  const rows: Row[] = [];
  const value = { sum: 4.5, c: 'abc', n: 3, list: [1, 2, 3] };
  const stores = new Map<number, FolderStore>();
  for (const size of [1000, large]) {
    const store = new FolderStore(join(dir, `folder-store-${size}`));
    for (let i = 0; i < size; i++) store.putSync(hexKey(i), value);
    stores.set(size, store);
  }
  const [smallStore, largeStore] = [stores.get(1000)!, stores.get(large)!];
  // Random keys that exist in both stores (the first 1000), read in a shuffled order.
  const order = Array.from({ length: 1000 }, (_, i) => hexKey((i * 7919) % 1000));
  const hitSync = (store: FolderStore) => perCallUs((i) => store.getSync(order[i % order.length]!), 1000);
  hitSync(smallStore);
  hitSync(largeStore); // warm both
  const [syncSmall, syncLarge] = [hitSync(smallStore), hitSync(largeStore)];
  const hitAsync = async (store: FolderStore) => {
    const times: number[] = [];
    for (let sample = 0; sample < 9; sample++) {
      const start = performance.now();
      for (let i = 0; i < 300; i++) await store.get(order[(sample * 300 + i) % order.length]!);
      times.push(((performance.now() - start) / 300) * 1000);
    }
    return median(times);
  };
  const [asyncSmall, asyncLarge] = [await hitAsync(smallStore), await hitAsync(largeStore)];
  const sizes = `10^3 vs ${large.toExponential(0).replace('e+', ' × 10^')} keys in one folder`;
  rows.push(
    row({ id: 'store.folder.getSync', figure: `FolderStore getSync hit, ${sizes}`, larder: syncLarge, baseline: syncSmall, baselineName: 'same at 10^3 keys', unit: 'µs', goal: '≤ 1.2× baseline' }, (r) => r <= 1.2),
    row({ id: 'store.folder.get', figure: `FolderStore get hit (async), ${sizes}`, larder: asyncLarge, baseline: asyncSmall, baselineName: 'same at 10^3 keys', unit: 'µs', goal: '≤ 1.2× baseline' }, (r) => r <= 1.2),
  );

  // Small puts into the large store, each to a new key (see the header: no replacing), next to
  // writing the same bytes to a temp file and renaming it into the same folder.
  const bytes = readFileSync(largeStore.pathOf(hexKey(0)));
  const rawFolder = join(dir, 'raw-small');
  const raw = new FolderStore(rawFolder);
  raw.putSync('x', 0);
  const rawDir = join(rawFolder, '@' + raw.pathOf('x').split('@')[1]!.slice(0, 2));
  let fresh = large;
  const rawUs = perCallUs((i) => {
    const file = join(rawDir, `${i}.larder`);
    writeFileSync(`${file}.tmp`, bytes);
    renameSync(`${file}.tmp`, file);
  }, 300);
  const putSyncUs = perCallUs(() => largeStore.putSync(hexKey(fresh++), value), 300);
  const asyncPut = async (put: (key: string) => Promise<unknown>) => {
    const times: number[] = [];
    for (let sample = 0; sample < 9; sample++) {
      const start = performance.now();
      for (let i = 0; i < 300; i++) await put(hexKey(fresh++));
      times.push(((performance.now() - start) / 300) * 1000);
    }
    return median(times);
  };
  const putUs = await asyncPut((key) => largeStore.put(key, value));
  const putIfAbsentUs = await asyncPut((key) => largeStore.putIfAbsent(key, value));
  rows.push(
    row({ id: 'store.folder.putSync', figure: `FolderStore putSync, small value (${bytes.length} B), new key`, larder: putSyncUs, baseline: rawUs, baselineName: 'writeFileSync + renameSync', unit: 'µs', goal: '≤ 2× baseline' }, (r) => r <= 2),
    row({ id: 'store.folder.put', figure: 'FolderStore put (async), small value, new key', larder: putUs, baseline: rawUs, baselineName: 'writeFileSync + renameSync', unit: 'µs', goal: 'report' }, () => true),
    row({ id: 'store.folder.putIfAbsent', figure: 'FolderStore putIfAbsent (async, link), small value', larder: putIfAbsentUs, baseline: rawUs, baselineName: 'writeFileSync + renameSync', unit: 'µs', goal: 'report' }, () => true),
  );

  // Streaming the whole large store: time to the first entry and to the last.
  const start = performance.now();
  let first = NaN;
  let listed = 0;
  for await (const _ of largeStore.list('f')) if (listed++ === 0) first = performance.now() - start;
  const all = performance.now() - start;
  rows.push(
    row({ id: 'store.folder.listFirst', figure: `FolderStore list: first of ${listed} keys`, larder: first, baseline: all, baselineName: 'the whole listing', unit: 'ms', goal: 'report (streams)' }, () => true),
  );
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--folder-store')) {
    const dir = mkdtempSync(join(tmpdir(), 'larder-bench-folder-'));
    try {
      console.log(table(await folderStoreRows(dir)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else {
    console.log(table(await run()));
  }
}
