import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dump, dumpSync, FormatError, load, loadSync, MappedArray, verify, type LoadOptions } from '@larder/store-fs';
import { checksum } from '../src/checksum.js';
import { decodeHeader, FORMAT_VERSION, HEADER_SIZE } from '../src/header.js';
import { Kind, ManifestReader, type PlanNode } from '../src/manifest.js';
import { craftFile, editHeader, editManifest, prng } from './file-surgery.js';
import { FALLBACK_MODE, inMode, LOAD_MODES } from './load-modes.js';

const MODES = [...LOAD_MODES, FALLBACK_MODE];
import { tempDir } from './tmp-dir.js';

const dir = tempDir();

function sample(): unknown {
  const shared = { tag: 'shared' };
  return {
    name: 'run',
    values: [1, 2.5, -0, NaN, 10n ** 30n, 'x', null, undefined, true],
    packed: Array.from({ length: 16 }, (_, i) => i / 3),
    arrays: { f: new Float64Array(40).map((_, i) => i), i: Int16Array.of(-1, 2, -3), b: Buffer.from('buf') },
    map: new Map<unknown, unknown>([['a', shared], [shared, new Set([1, 2])]]),
    when: new Date(0),
    s: 'lone \uD800',
  };
}

let written = 0;
/**
 * Writes each case to a new file: on ext4, overwriting a file (O_TRUNC or a
 * rename over it) forces a data flush that costs milliseconds per case.
 */
function write(bytes: Uint8Array): string {
  const file = path.join(dir, `case-${written++}.larder`);
  fs.writeFileSync(file, bytes);
  return file;
}

const valid = (() => {
  const file = path.join(dir, 'valid.larder');
  dumpSync(sample(), file);
  return new Uint8Array(fs.readFileSync(file));
})();

/**
 * Loads in `mode` with `options` and reads every array left in the file in full (MappedArrays
 * through toArray, which verifies unless `verify: false`; mapped typed arrays through verify());
 * returns the error thrown, if any.
 */
function attempt(file: string, options: LoadOptions, mode = 'mmap'): unknown {
  try {
    const value = inMode(mode, () => loadSync(file, options));
    if (options.mmap && options.verify !== false) verify(value);
    const pending: unknown[] = [value];
    const seen = new Set<unknown>();
    for (let item = pending.pop(); item !== undefined || pending.length > 0; item = pending.pop()) {
      if (typeof item !== 'object' || item === null || seen.has(item)) continue;
      seen.add(item);
      if (item instanceof MappedArray) item.toArray();
      else if (item instanceof Map) pending.push(...item.keys(), ...item.values());
      else if (item instanceof Set) pending.push(...item);
      else if (!ArrayBuffer.isView(item)) pending.push(...Object.values(item));
    }
    return undefined;
  } catch (error) {
    return error;
  }
}

function expectFormatError(file: string, options: LoadOptions, what: string, mode = 'mmap'): void {
  const error = attempt(file, options, mode);
  if (!(error instanceof FormatError)) {
    throw new Error(`${what}: expected a FormatError, got ${error === undefined ? 'a successful load' : String(error)}`);
  }
  expect(error.code).toBe('LARDER_FORMAT');
  expect(error.message.startsWith('[larder/store-fs] ')).toBe(true);
}

describe('hostile files: crafted structure', () => {
  const twoArrays = (() => {
    const file = path.join(dir, 'two-arrays.larder');
    dumpSync([new Float64Array(16).fill(1), new Float64Array(16).fill(2)], file);
    return new Uint8Array(fs.readFileSync(file));
  })();
  const editSegments = (edit: (view: DataView, table: number) => void): Uint8Array =>
    editManifest(twoArrays, (manifest, view) => edit(view, findSegmentTable(manifest, new ManifestReader(manifest))));

  it.each([
    ['segment 1 starting where segment 0 starts', (view: DataView, table: number) => view.setBigUint64(table + 24, 0n, true)],
    ['segment 0 running into segment 1', (view: DataView, table: number) => view.setBigUint64(table + 8, 200n, true)],
    ['segment 1 starting inside segment 0', (view: DataView, table: number) => view.setBigUint64(table + 24, 64n, true)],
    ['both segments on the same bytes', (view: DataView, table: number) => {
      view.setBigUint64(table + 24, 0n, true);
      view.setBigUint64(table + 32, 128n, true);
    }],
    ['a segment offset near 2^64 (wrapping back over the manifest)', (view: DataView, table: number) => view.setBigUint64(table + 24, 2n ** 64n - 64n, true)],
    ['a segment offset of 2^53 + 64', (view: DataView, table: number) => view.setBigUint64(table + 24, 2n ** 53n + 64n, true)],
  ])('overlapping segments: %s is a FormatError in every mode', (_name, edit) => {
    const file = write(editSegments(edit));
    for (const [mode, options] of MODES) expectFormatError(file, options, mode, mode);
  });

  it('a header whose manifest length puts the data region inside the manifest is a FormatError in every mode', () => {
    for (const shorter of [64, 128]) {
      const header = decodeHeader(twoArrays, twoArrays.length);
      const manifestLength = header.manifestLength - shorter;
      const manifest = twoArrays.subarray(HEADER_SIZE, HEADER_SIZE + manifestLength);
      const bytes = editHeader(twoArrays, { manifestLength, manifestChecksum: checksum(manifest) });
      const file = write(bytes);
      for (const [mode, options] of MODES) expectFormatError(file, options, `${mode}, manifest ${shorter} bytes shorter`, mode);
    }
  });

  it('a DAG: one array node referenced by 20 000 parents loads once, shared, in linear time', () => {
    const parents = 20_000;
    const shared = parents + 1;
    const nothing = parents + 2;
    const nodes: PlanNode[] = [{ kind: Kind.Array, children: Array.from({ length: parents }, (_, i) => i + 1) }];
    for (let i = 0; i < parents; i++) nodes.push({ kind: Kind.Array, children: [shared, shared] });
    nodes.push({ kind: Kind.Array, children: Array<number>(1000).fill(nothing) }, { kind: Kind.Null });
    const file = write(craftFile(nodes));
    for (const [, options] of LOAD_MODES) {
      const back = loadSync<unknown[][][]>(file, options);
      expect(back.length).toBe(parents);
      expect(back[0]![0]).toBe(back[parents - 1]![1]);
      expect(back[0]![0]!.length).toBe(1000);
    }
  });

  it('the 26-level doubling DAG v = [v, v] dumps small and loads back shared, in linear time', async () => {
    let v: unknown = 'leaf';
    for (let level = 0; level < 26; level++) v = [v, v];
    const file = path.join(dir, 'doubling.larder');
    dumpSync(v, file);
    // 2^26 paths, 27 nodes: a walk that followed paths instead of nodes would not finish.
    expect(fs.statSync(file).size).toBeLessThan(2048);
    for (const [, options] of LOAD_MODES) {
      let back = loadSync<unknown>(file, options);
      for (let level = 0; level < 26; level++) {
        const pair = back as unknown[];
        expect(pair[0]).toBe(pair[1]);
        back = pair[0];
      }
      expect(back).toBe('leaf');
    }
  });

  it('a value 1 000 000 levels deep (arrays and objects) dumps and loads in every mode without a stack overflow', async () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 1_000_000; i++) deep = i % 2 === 0 ? [deep] : { d: deep };
    const file = path.join(dir, 'deep.larder');
    await dump(deep, file);
    for (const [, options] of LOAD_MODES) {
      let back = await load<unknown>(file, options);
      for (let i = 999_999; i >= 0; i--) back = i % 2 === 0 ? (back as unknown[])[0] : (back as { d: unknown }).d;
      expect(back).toBe('bottom');
    }
  }, 240_000);
});

describe('hostile files', () => {
  it.each(MODES)('every truncation of a valid file is a FormatError (%s)', (mode, options) => {
    for (let length = 0; length < valid.length; length++) expectFormatError(write(valid.subarray(0, length)), options, `length ${length}`, mode);
  });

  it.each(MODES)('every prefix followed by junk is a FormatError (%s)', (mode, options) => {
    const random = prng(7);
    for (let length = 0; length < valid.length; length++) {
      // Junk that restores the original length, and junk that makes the file longer.
      for (const total of [valid.length, valid.length + 1 + Math.floor(random() * 100)]) {
        const bytes = new Uint8Array(total);
        bytes.set(valid.subarray(0, length));
        for (let i = length; i < total; i++) bytes[i] = Math.floor(random() * 256);
        if (total === valid.length && bytes.every((byte, i) => byte === valid[i])) continue;
        expectFormatError(write(bytes), options, `prefix ${length} + ${total - length} junk bytes`, mode);
      }
    }
  });

  it('a file that is not ours, or empty, is a FormatError that says so', () => {
    expect(() => loadSync(write(Buffer.from('{"json": true}')))).toThrow(/not a larder file/);
    expect(() => loadSync(write(new Uint8Array(0)))).toThrow(FormatError);
  });

  it('a newer format version is a FormatError saying so', async () => {
    const newer = valid.slice();
    new DataView(newer.buffer).setUint16(8, FORMAT_VERSION + 1, true);
    const file = write(newer);
    expect(() => loadSync(file)).toThrow(`format version ${FORMAT_VERSION + 1}, newer than version ${FORMAT_VERSION}`);
    await expect(load(file, { mmap: 'r' })).rejects.toThrow(/upgrade @larder\/store-fs/);
  });

  it('a flipped byte in a segment is a checksum FormatError by default, and loads with verify: false', () => {
    const file = path.join(dir, 'seg.larder');
    dumpSync(new Float64Array(64).fill(1), file);
    const bytes = new Uint8Array(fs.readFileSync(file));
    bytes[bytes.length - 3]! ^= 0x10;
    fs.writeFileSync(file, bytes);
    expect(() => loadSync(file)).toThrow(/segment 0 checksum mismatch/);
    expect(() => loadSync(file, { shared: true })).toThrow(/segment 0 checksum mismatch/);
    expect(() => inMode('mmap-fallback', () => loadSync<MappedArray>(file, { mmap: 'r', mmapThreshold: 0 })).toArray()).toThrow(/checksum mismatch/);
    // A mapped array is not read at open: the flip goes unnoticed until verify(), or an explicit verify: true.
    const mapped = loadSync<Float64Array>(file, { mmap: 'r', mmapThreshold: 0 });
    expect(mapped).toBeInstanceOf(Float64Array);
    expect(() => verify(mapped)).toThrow(/segment 0 does not match its stored checksum/);
    expect(() => loadSync(file, { mmap: 'r', mmapThreshold: 0, verify: true })).toThrow(/segment 0 does not match its stored checksum/);
    expect(loadSync<Float64Array>(file, { verify: false }).length).toBe(64);
  });

  it('a node count claiming 2^31 nodes in a small file fails before allocating', () => {
    const bytes = editManifest(valid, (manifest, view) => {
      const reader = new ManifestReader(manifest);
      view.setUint32(reader.nodes.start - 4, 2 ** 31, true);
    });
    for (const [, options] of LOAD_MODES) expect(() => loadSync(write(bytes), options)).toThrow(/a vector of 2147483648 elements runs past the manifest/);
  });

  it('a segment pointing outside the file is a FormatError', () => {
    const bytes = editManifest(valid, (manifest, view) => {
      const reader = new ManifestReader(manifest);
      const segmentsAt = findSegmentTable(manifest, reader);
      view.setBigUint64(segmentsAt + 8, 2n ** 40n, true); // length of segment 0
    });
    for (const [, options] of LOAD_MODES) expect(() => loadSync(write(bytes), options)).toThrow(FormatError);
  });

  it('a compressed payload claiming a huge size fails without a huge allocation', () => {
    const file = path.join(dir, 'gz.larder');
    dumpSync(sample(), file, { compress: 'gzip' });
    const bytes = editHeader(new Uint8Array(fs.readFileSync(file)), { payloadLength: 2 ** 40 });
    const before = process.memoryUsage().arrayBuffers;
    expect(() => loadSync(write(bytes))).toThrow(FormatError);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('fuzz: thousands of seeded mutations either load or throw FormatError, in every mode', () => {
    const random = prng(20240601);
    const bases = [valid, compressed('gzip'), compressed('brotli'), plainArray(), versionTwo()];
    const counts = { loaded: 0, formatError: 0 };
    const MUTATIONS = 1500;
    for (let n = 0; n < MUTATIONS; n++) {
      const base = bases[n % bases.length]!;
      const bytes = mutate(base, random);
      const file = write(bytes);
      for (const [mode, options] of MODES) {
        const error = attempt(file, options, mode);
        if (error === undefined) counts.loaded++;
        else if (error instanceof FormatError) counts.formatError++;
        else throw new Error(`mutation ${n} (${mode}) threw ${String(error)}`, { cause: error });
      }
    }
    expect(counts.loaded + counts.formatError).toBe(MUTATIONS * MODES.length);
    // The mutations must reach past the checksums into the structural checks, and some must survive.
    expect(counts.loaded).toBeGreaterThan(50);
    expect(counts.formatError).toBeGreaterThan(MUTATIONS);
  }, 180_000);

  it('fuzz (async load, which inflates in pieces): truncations and mutations of compressed files load or throw FormatError', async () => {
    const random = prng(77);
    for (const base of [compressed('gzip'), compressed('brotli')]) {
      const cases = [...Array.from({ length: 40 }, (_, i) => base.subarray(0, Math.floor((i / 40) * base.length))), ...Array.from({ length: 150 }, () => mutate(base, random))];
      for (const bytes of cases) {
        const file = write(bytes);
        for (const [mode, options] of LOAD_MODES) {
          const error = await load(file, options).then(() => undefined, (caught: unknown) => caught);
          if (error !== undefined && !(error instanceof FormatError)) throw new Error(`${mode}: ${String(error)}`, { cause: error });
        }
      }
    }
  }, 180_000);
});

function compressed(method: 'gzip' | 'brotli'): Uint8Array {
  const file = path.join(dir, `${method}.larder`);
  dumpSync(sample(), file, { compress: method });
  return new Uint8Array(fs.readFileSync(file));
}

/** A format-version-2 file: lone-surrogate keys and a sparse array. */
function versionTwo(): Uint8Array {
  const file = path.join(dir, 'v2.larder');
  const sparse: unknown[] = [];
  sparse[5] = 'five';
  sparse[100_000] = { '\uD800': [1], '\uDC00': 'x' };
  dumpSync({ sparse, keys: { '\uDBFF': 1, '': 2 } }, file);
  const bytes = new Uint8Array(fs.readFileSync(file));
  expect(new DataView(bytes.buffer).getUint16(8, true)).toBe(2);
  return bytes;
}

function plainArray(): Uint8Array {
  const file = path.join(dir, 'plain.larder');
  dumpSync([Float32Array.of(1, 2, 3), { k: 'v' }, [[[]]]], file);
  return new Uint8Array(fs.readFileSync(file));
}

/** The segment struct vector's start: the manifest table's third field. */
function findSegmentTable(manifest: Uint8Array, reader: ManifestReader): number {
  const view = new DataView(manifest.buffer, manifest.byteOffset, manifest.byteLength);
  const table = view.getUint32(0, true);
  const vtable = table - view.getInt32(table, true);
  const field = table + view.getUint16(vtable + 8, true);
  const start = field + view.getUint32(field, true) + 4;
  expect(view.getUint32(start - 4, true)).toBe(reader.segments.length);
  return start;
}

const HUGE = [0xffffffff, 0x7fffffff, 0x80000000, 0x10000, 0xfffffff0];

/** One random mutation; most re-seal the checksums so the structural checks are what is tested. */
function mutate(base: Uint8Array, random: () => number): Uint8Array {
  const pick = (n: number): number => Math.floor(random() * n);
  const kind = pick(6);
  if (kind === 0) return base.subarray(0, pick(base.length));
  if (kind === 1) {
    const bytes = base.slice();
    for (let i = 0, flips = 1 + pick(4); i < flips; i++) bytes[pick(bytes.length)]! ^= 1 << pick(8);
    return bytes;
  }
  const uncompressed = new DataView(base.buffer, base.byteOffset).getUint8(10) === 0;
  if (!uncompressed) return base.map((byte, i) => (i >= 64 && random() < 0.01 ? pick(256) : byte));
  // Re-sealed manifest edits: the checksums pass, so only the bounds checks stand in the way.
  return editManifest(base, (manifest, view) => {
    if (kind === 2) {
      for (let i = 0, flips = 1 + pick(3); i < flips; i++) manifest[pick(manifest.length)]! ^= 1 << pick(8);
    } else if (kind === 3) {
      const at = pick(Math.max(1, manifest.length - 4)) & ~3;
      view.setUint32(at, HUGE[pick(HUGE.length)]!, true);
    } else if (kind === 4) {
      const at = pick(Math.max(1, manifest.length - 4));
      view.setUint32(at, pick(manifest.length * 2), true);
    } else {
      const at = pick(Math.max(1, manifest.length - 2)) & ~1;
      view.setUint16(at, pick(0x10000), true);
    }
  });
}
