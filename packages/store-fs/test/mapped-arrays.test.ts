/**
 * Real memory maps: with the addon (shipped prebuilt for linux-x64), an
 * `mmap: 'r'` load gives real typed arrays over one copy-on-write mapping of
 * the file. Where the addon cannot load, MappedArrays (tested in mmap.test.ts)
 * and a one-time LARDER_MISSING_DRIVER warning.
 */
import { constants as bufferConstants } from 'node:buffer';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { dumpSync, FormatError, load, loadSync, MappedArray, verify, type LoadOptions } from '@larder/store-fs';
import { checksum } from '../src/checksum.js';
import { disableAddonForTests, nativeAddon } from '../src/native.js';
import { writeSparseFloat64File } from './sparse-file.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();

/** loadSync with mmap, typed as the real arrays these tests check it gives (the addon loads here). */
function loadMapped<T>(file: string, options: LoadOptions): T {
  return loadSync<T>(file, options) as T;
}
const child = fileURLToPath(new URL('./fixtures/mapping-child.ts', import.meta.url));

function runChild(mode: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--conditions=larder-source', '--import', 'tsx', child, mode, path.join(dir, `child-${mode}.larder`)],
      { timeout: 60_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, signal: (error as { signal?: string } | null)?.signal ?? null, stdout, stderr }),
    );
  });
}

describe("load(..., { mmap: 'r' }) with the addon: real typed arrays over the file", () => {
  const file = path.join(dir, 'real.larder');
  const big = new Float64Array(20_000).map((_, i) => i * 0.5);
  const ints = new BigInt64Array(20_000).map((_, i) => BigInt(i) - 5n);
  dumpSync({ big, ints, small: Int32Array.of(1, 2, 3), label: 'run' }, file);
  type Loaded = { big: Float64Array; ints: BigInt64Array; small: Int32Array; label: string };

  it('arrays above the threshold are typed arrays on one mapping of the whole file; small values are read', async () => {
    for (const value of [loadMapped<Loaded>(file, { mmap: 'r' }), (await load(file, { mmap: 'r' })) as Loaded]) {
      expect(value.big).toBeInstanceOf(Float64Array);
      expect(value.big).toStrictEqual(big);
      expect(value.ints).toStrictEqual(ints);
      expect([value.big[0], value.big[19_999], value.big.at(-2), value.ints[3]]).toStrictEqual([0, 9_999.5, 9_999, -2n]);
      // One mapping: both arrays are views on it, at their offsets in the file.
      expect(value.big.buffer).toBe(value.ints.buffer);
      expect(value.big.buffer.byteLength).toBe(fs.statSync(file).size);
      expect(value.big.byteOffset % 64).toBe(0);
      expect(value.small.buffer).not.toBe(value.big.buffer);
      expect(value.small).toStrictEqual(Int32Array.of(1, 2, 3));
      expect(value.label).toBe('run');
    }
  });

  it('typed-array methods work on them: subarray, slice, reduce, set, sort', () => {
    const { big } = loadMapped<Loaded>(file, { mmap: 'r' });
    expect(big.subarray(2, 4)).toStrictEqual(Float64Array.of(1, 1.5));
    expect(big.slice(-1)).toStrictEqual(Float64Array.of(9_999.5));
    expect(big.reduce((sum, x) => sum + x, 0)).toBe(big.length * (big.length - 1) * 0.25);
  });

  it('is copy-on-write: a write changes this process\'s view, never the file or another load', () => {
    const before = fs.readFileSync(file);
    const first = loadMapped<Loaded>(file, { mmap: 'r' });
    first.big[1] = 42;
    first.big.fill(-1, 100, 200);
    first.big.sort();
    expect(first.big[0]).toBe(-1);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(loadMapped<Loaded>(file, { mmap: 'r' }).big).toStrictEqual(big);
    expect(loadSync<Loaded>(file).big).toStrictEqual(big);
  });

  it('keeps the file it mapped after that file is atomically replaced', () => {
    const target = path.join(dir, 'replaced-real.larder');
    dumpSync(new Float64Array(10_000).fill(1), target);
    const mapped = loadMapped<Float64Array>(target, { mmap: 'r' });
    dumpSync(new Float64Array(10_000).fill(2), target);
    expect(mapped[9_999]).toBe(1);
    expect(loadMapped<Float64Array>(target, { mmap: 'r' })[0]).toBe(2);
  });

  it('holds no descriptor: the file is closed when the load returns', () => {
    const open = (): number => fs.readdirSync('/proc/self/fd').length;
    const before = open();
    const values = Array.from({ length: 20 }, () => loadMapped<Loaded>(file, { mmap: 'r' }));
    expect(open()).toBe(before);
    expect(values.every((value) => value.big[3] === 1.5)).toBe(true);
  });

  it('round-trips through dump, and a dump over the mapped file itself is safe (the mapping keeps the old inode)', () => {
    const target = path.join(dir, 'redump.larder');
    dumpSync({ big }, target);
    const mapped = loadMapped<{ big: Float64Array }>(target, { mmap: 'r' });
    const copy = path.join(dir, 'redump-copy.larder');
    dumpSync(mapped, copy);
    expect(loadSync(copy)).toStrictEqual({ big });
    mapped.big[0] = 7; // a private page now differs from the file
    dumpSync(mapped, target); // rename over the mapped file
    expect(loadSync<{ big: Float64Array }>(target).big[0]).toBe(7);
    expect(mapped.big[1]).toBe(0.5);
  });

  it('goes to another thread by structured clone (a copy); a transfer list does not detach or unmap the caller\'s array', async () => {
    const { big } = loadMapped<Loaded>(file, { mmap: 'r' });
    const { port1, port2 } = new MessageChannel();
    const received = (port: MessagePort): Promise<Float64Array> => new Promise((resolve) => port.once('message', resolve));
    try {
      const copied = received(port2);
      port1.postMessage(big);
      expect(await copied).toStrictEqual(big);
      let threw: unknown;
      const transferred = received(port2);
      try {
        port1.postMessage(big, [big.buffer as ArrayBuffer]);
      } catch (error) {
        threw = error; // where a runtime refuses to transfer it, that is fine too
      }
      if (threw === undefined) expect(await transferred).toStrictEqual(big);
      expect(big.length).toBe(20_000);
      expect(big.buffer.byteLength).toBe(fs.statSync(file).size);
      expect(big[19_999]).toBe(9_999.5);
    } finally {
      port1.close();
      port2.close();
    }
  });

  it('mmapThreshold still decides; shared puts the arrays that are read (not the mapped ones) on a SharedArrayBuffer', () => {
    expect(loadMapped<Loaded>(file, { mmap: 'r', mmapThreshold: 10_000_000 }).big.buffer.byteLength).toBe(big.byteLength);
    const all = loadMapped<Loaded>(file, { mmap: 'r', mmapThreshold: 0, shared: true });
    expect(all.small.buffer).toBe(all.big.buffer);
    const shared = loadMapped<Loaded>(file, { mmap: 'r', shared: true });
    expect(shared.small.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(shared.big.buffer).toBeInstanceOf(ArrayBuffer);
  });
});

describe('huge files', () => {
  /** A sparse file holding [Float64Array(n0), Float64Array(n1)], each ending in a known value; no disk, no RAM. */
  function sparseFile(name: string, lengths: number[]): string {
    const target = path.join(dir, name);
    writeSparseFloat64File(target, lengths.map((length, i) => ({ length, last: i + 0.5 })));
    return target;
  }

  it('a 6 GB file of two 3 GB arrays opens in O(1); each array is mapped (on its own where the file exceeds one ArrayBuffer)', () => {
    const elements = 375_000_000; // 3 GB of Float64 each
    const target = sparseFile('huge-two.larder', [elements, elements]);
    const started = performance.now();
    const [a, b] = loadMapped<[Float64Array, Float64Array]>(target, { mmap: 'r' });
    expect(performance.now() - started).toBeLessThan(1000);
    expect([a, b].every((x) => x instanceof Float64Array)).toBe(true);
    expect([a.length, a[elements - 1], a[elements / 2], b[elements - 1]]).toStrictEqual([elements, 0.5, 0, 1.5]);
    if (bufferConstants.MAX_LENGTH < 6e9) expect(a.buffer).not.toBe(b.buffer);
    fs.rmSync(target);
  });

  it('an array larger than one ArrayBuffer can hold stays a MappedArray, without a warning', () => {
    const elements = Math.floor(bufferConstants.MAX_LENGTH / 8) + 1;
    if (elements * 8 > 2 ** 45) return; // Node 22+: arrays up to 2^53 bytes; nothing to test
    const target = sparseFile('too-large-array.larder', [elements]);
    const warnings: Error[] = [];
    const listen = (warning: Error): number => warnings.push(warning);
    process.on('warning', listen);
    try {
      const [x] = loadMapped<[MappedArray<Float64Array>]>(target, { mmap: 'r' });
      expect(x).toBeInstanceOf(MappedArray);
      expect(x.at(-1)).toBe(0.5);
      x.close();
    } finally {
      process.off('warning', listen);
    }
    expect(warnings).toStrictEqual([]);
    fs.rmSync(target);
  });
});

describe('verify(value) and verify: true', () => {
  const file = path.join(dir, 'verify.larder');
  dumpSync({ runs: [new Map([['x', new Float64Array(50_000).fill(1.25)]]), new Set([new Uint8Array(100_000).fill(9)])], small: Int8Array.of(1) }, file);
  type Runs = { runs: [Map<string, Float64Array>, Set<Uint8Array>]; small: Int8Array };

  it('checks every mapped array of the value, however nested, and reports how much it read', () => {
    const value = loadMapped<Runs>(file, { mmap: 'r' });
    expect(verify(value)).toStrictEqual({ arrays: 2, bytes: 500_000 });
    expect(verify(value.runs[0])).toStrictEqual({ arrays: 1, bytes: 400_000 });
    expect(verify(loadSync(file))).toStrictEqual({ arrays: 0, bytes: 0 }); // eager: verified when read
    expect(verify(42)).toStrictEqual({ arrays: 0, bytes: 0 });
  });

  it('regression: a value of null or undefined (a file may hold just that) has nothing to check; it threw a TypeError', () => {
    for (const value of [null, undefined]) {
      const nothing = path.join(dir, `nothing-${String(value)}.larder`);
      dumpSync(value, nothing);
      expect(verify(loadSync(nothing, { mmap: 'r' }))).toStrictEqual({ arrays: 0, bytes: 0 });
      expect(verify(value)).toStrictEqual({ arrays: 0, bytes: 0 });
    }
  });

  it('a flipped byte in a mapped segment goes unnoticed at open, and is a FormatError from verify() or verify: true', () => {
    const target = path.join(dir, 'flipped.larder');
    fs.copyFileSync(file, target);
    const bytes = fs.readFileSync(target);
    bytes[bytes.length - 10_000]! ^= 1; // inside the last (Uint8Array) segment
    fs.writeFileSync(target, bytes);
    const value = loadMapped<Runs>(target, { mmap: 'r' });
    expect([...value.runs[1]][0]![0]).toBe(9);
    expect(() => verify(value)).toThrow(FormatError);
    expect(() => verify(value)).toThrow(/segment \d does not match its stored checksum.*flipped\.larder/);
    expect(() => loadSync(target, { mmap: 'r', verify: true })).toThrow(/does not match its stored checksum/);
    expect(() => loadSync(target)).toThrow(/checksum mismatch/);
  });

  it('a write to a mapped array is a mismatch too (it no longer holds the stored bytes)', () => {
    const value = loadMapped<Runs>(file, { mmap: 'r' });
    value.runs[0].get('x')![7] = 0;
    expect(() => verify(value)).toThrow(/changed in memory/);
  });

  it('checks MappedArrays where the addon is missing', () => {
    disableAddonForTests(true);
    try {
      const value = loadSync<{ runs: [Map<string, MappedArray<Float64Array>>] }>(file, { mmap: 'r' });
      expect(value.runs[0].get('x')).toBeInstanceOf(MappedArray);
      expect(verify(value)).toStrictEqual({ arrays: 2, bytes: 500_000 });
    } finally {
      disableAddonForTests(false);
    }
  });
});

describe('where the addon cannot load', () => {
  afterEach(() => disableAddonForTests(false));

  it('mmap loads fall back to MappedArrays and warn once with LARDER_MISSING_DRIVER', async () => {
    await new Promise((resolve) => setImmediate(resolve)); // warnings of earlier tests are emitted on a later tick
    disableAddonForTests(true);
    const warnings: (Error & { code?: string })[] = [];
    const listen = (warning: Error): number => warnings.push(warning);
    process.on('warning', listen);
    try {
      const file = path.join(dir, 'fallback.larder');
      dumpSync({ x: new Float64Array(20_000).fill(4) }, file);
      const first = loadMapped<{ x: MappedArray<Float64Array> }>(file, { mmap: 'r' });
      const second = await load<{ x: MappedArray<Float64Array> }>(file, { mmap: 'r' });
      expect([first.x, second.x].every((x) => x instanceof MappedArray)).toBe(true);
      expect(first.x.at(-1)).toBe(4);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((warning) => `${warning.code}: ${warning.message}`)).toStrictEqual([expect.stringMatching(/^LARDER_MISSING_DRIVER: /)]);
      expect(warnings[0]!.message).toMatch(/^\[larder\/store-fs\] real memory maps are unavailable/);
      first.x.close();
      second.x.close();
    } finally {
      process.off('warning', listen);
    }
  });

  it('LARDER_NO_MMAP_ADDON=1 disables the addon for a whole process', async () => {
    const { stdout, stderr } = await runChild('fallback', { LARDER_NO_MMAP_ADDON: '1' });
    const report = JSON.parse(stdout.trim()) as { kinds: string[]; last: number; warnings: string[] };
    expect(report.kinds).toStrictEqual(['MappedArray', 'MappedArray']);
    expect(report.last).toBe(999_999);
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]).toMatch(/^LARDER_MISSING_DRIVER: .*LARDER_NO_MMAP_ADDON=1 disables it/);
    expect(stderr).toContain('LARDER_MISSING_DRIVER');
  });
});

describe("the addon's xxh64", () => {
  it('gives the digests of store-fs checksum (xxhash-wasm) at every length class: empty, tails, stripes, pieces', () => {
    const addon = nativeAddon()!;
    const bytes = new Uint8Array(3 << 20).map((_, i) => (i * 2654435761) >>> 24);
    for (const length of [0, 1, 3, 4, 7, 8, 31, 32, 33, 63, 64, 100, 4096, 1 << 20, (1 << 20) + 5, bytes.length]) {
      expect(addon.xxh64(bytes.subarray(1, 1 + Math.min(length, bytes.length - 1))), `length ${length}`).toBe(checksum(bytes.subarray(1, 1 + Math.min(length, bytes.length - 1))));
    }
    expect(addon.xxh64(new TextEncoder().encode('abc'))).toBe(0x44bc2cf5ad770999n);
    expect(() => addon.xxh64({} as Uint8Array)).toThrow(/takes a typed array or DataView/);
  });
});

describe('lifetime and failure, in a child process', () => {
  it('a view keeps the mapping alive through forced collections; the last one collected unmaps the file', async () => {
    const { stdout, stderr } = await runChild('lifetime');
    expect(stderr).toBe('');
    expect(JSON.parse(stdout.trim())).toStrictEqual({ mappedAtLoad: 1, mappedWhileHeld: 1, sum: 499_999_500_000, mappedAfter: 0 });
  });

  it('a file truncated under a live mapping: reading past its new end ends the process with SIGBUS, and it says why', async () => {
    const { signal, stdout, stderr } = await runChild('truncate');
    expect(signal).toBe('SIGBUS');
    expect(stdout).not.toContain('read');
    expect(stderr).toContain('[larder/store-fs] SIGBUS: a memory-mapped file was read past its end');
  });
});
