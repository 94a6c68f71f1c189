/**
 * @larder/store-fs benchmarks: each figure next to the raw fs operation on the
 * same bytes, measured in the same run. Run alone with `pnpm tsx bench/store-fs.ts`.
 *
 * Every dump goes to a new file name: on ext4, replacing an existing file
 * (O_TRUNC or rename over it) forces a data flush, which would measure the
 * disk instead of the format. Data lives under os.tmpdir() and is removed.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump, dumpSync, load, loadSync, MappedArray, type DumpOptions } from '@larder/store-fs';
import { medianMs, medianPerCallMs, table, type Row } from './harness.js';

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

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(table(await run()));
}
