/**
 * Hostile caches (issue 6): a location damaged at random between runs (flipped
 * bytes, truncation, deleted files, junk files and folders where entries
 * belong, an entry copied over another, junk lease files, a corrupted index
 * database, also while a Memory has it open). Every call still returns the
 * right value; warnings are allowed (corrupt entry, not stored, index), a
 * throw or a crash is not.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MappedArray } from '@larder/store-fs';
import { Memory, type MemoryWarning } from '@larder/memory';
import { tempFolders } from './fixtures/run-child.js';

const folders = tempFolders('larder-hostile-');
afterAll(() => folders.cleanup());

const vecOf = (i: number) => Float64Array.from({ length: (i * 997) % 20_000 }, (_, j) => i + j / 8);
const recOf = (i: number) => ({ i, text: `record ${i} `.repeat(i % 9), map: new Map([[`k${i}`, [i, -0, Number.NaN]]]), when: new Date(1_700_000_000_000 + i) });
const bigOf = (i: number) => Float64Array.from({ length: 40_000 }, (_, j) => i * 1e6 + j);
const KEYS = 24;

/** Byte-equal Float64Arrays (vitest's deep equality walks 40 000 elements one by one: too slow for 7 × 72 checks). */
function sameFloats(actual: unknown, expected: Float64Array): boolean {
  if (!(actual instanceof Float64Array) || actual.length !== expected.length) return false;
  return Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength));
}

function open(location: string) {
  const warnings: MemoryWarning[] = [];
  const memory = new Memory(location, { onWarning: (w) => void warnings.push(w), leaseMs: 1_000 });
  const vec = memory.cache(function vec(i: number) { return vecOf(i); }, { name: 'vec' });
  const rec = memory.cache(function rec(i: number) { return recOf(i); }, { name: 'rec' });
  const big = memory.cache(function big(i: number) { return { data: bigOf(i) }; }, { name: 'big', mmap: 'r' });
  /** Calls everything once and checks every value; returns the problems found (none expected). */
  const checkAll = async (): Promise<string[]> => {
    const problems: string[] = [];
    for (let i = 0; i < KEYS; i++) {
      try {
        if (!sameFloats(await vec(i), vecOf(i))) throw new Error('vec: wrong value');
        expect(await rec(i)).toEqual(recOf(i));
        const { data } = await big(i);
        if (!sameFloats(data instanceof MappedArray ? data.toArray() : data, bigOf(i))) throw new Error('big: wrong value');
      } catch (error) {
        problems.push(`key ${i}: ${(error as Error).message.slice(0, 300)}`);
      }
    }
    return problems;
  };
  return { memory, warnings, checkAll };
}

/** Every entry file of the location. */
const entryFiles = (location: string) =>
  readdirSync(join(location, 'results'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.larder')).map((e) => join(e.parentPath, e.name));

type Damage = (file: string, random: () => number, location: string, others: string[]) => string;
const damages: Damage[] = [
  (file, random) => {
    const bytes = readFileSync(file);
    const flips = 1 + Math.floor(random() * 20);
    for (let n = 0; n < flips && bytes.length > 0; n++) bytes[Math.floor(random() * bytes.length)]! ^= 1 << Math.floor(random() * 8);
    writeFileSync(file, bytes);
    return `flipped ${flips} bits`;
  },
  (file, random) => (truncateSync(file, Math.floor(random() * statSync(file).size)), 'truncated'),
  (file) => (unlinkSync(file), 'deleted'),
  (file, random) => (writeFileSync(file, Buffer.from(Array.from({ length: statSync(file).size }, () => Math.floor(random() * 256)))), 'replaced by random bytes of the same size'),
  (file) => (unlinkSync(file), mkdirSync(file), writeFileSync(join(file, 'inside'), 'x'), 'replaced by a folder'),
  (file, _random, _location, others) => (copyFileSync(others[0]!, file), 'overwritten by another entry'),
  (file) => (writeFileSync(`${file}.lease`, 'junk lease'), 'junk lease next to it'),
  (file) => (unlinkSync(file), writeFileSync(`${file}.lease`, JSON.stringify({ host: 'elsewhere', pid: 1, thread: 0, token: 'x' })), 'deleted, with a live-looking lease from another host'),
  (file) => (writeFileSync(`${file}.larder-tmp`, 'half'), writeFileSync(join(file, '..', 'junk.larder'), 'junk'), writeFileSync(join(file, '..', '.hidden'), ''), 'junk files beside it'),
];

function damageIndex(location: string, random: () => number): string {
  const file = join(location, 'index.sqlite');
  if (!existsSync(file)) return 'no index';
  const kind = Math.floor(random() * 3);
  if (kind === 0) return (writeFileSync(file, Buffer.alloc(8192, 0x5a)), 'index overwritten with junk');
  if (kind === 1) return (truncateSync(file, Math.floor(statSync(file).size / 3)), 'index truncated');
  const bytes = readFileSync(file);
  for (let n = 0; n < 64; n++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
  writeFileSync(file, bytes);
  return 'index bytes flipped';
}

describe('hostile caches', () => {
  it('hostile: 6 rounds of random damage to files and index between runs: every call returns the right value, with warnings only', async () => {
    const location = folders.make();
    let seed = 20_261_121;
    const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const first = open(location);
    expect(await first.checkAll()).toEqual([]);
    await first.memory.close();
    const log: string[] = [];
    for (let round = 0; round < 6; round++) {
      const files = entryFiles(location);
      for (let n = 0; n < 12; n++) {
        const file = files[Math.floor(random() * files.length)]!;
        if (!existsSync(file) || statSync(file).isDirectory()) continue;
        const damage = damages[Math.floor(random() * damages.length)]!;
        log.push(`${damage(file, random, location, files.filter((f) => f !== file && existsSync(f) && statSync(f).isFile()))}: ${file.slice(location.length)}`);
      }
      if (round % 2 === 1) log.push(damageIndex(location, random));
      const run = open(location);
      const problems = await run.checkAll();
      expect(problems, log.join('\n')).toEqual([]);
      await expect(run.memory.stats()).resolves.toMatchObject({ entries: expect.any(Number) });
      await expect(run.memory.reconcile()).resolves.toBeDefined();
      await run.memory.close();
      for (const w of run.warnings) expect(['LARDER_ENTRY_CORRUPT', 'LARDER_NOT_STORED', 'LARDER_INDEX']).toContain(w.code);
      // Damage noticed is reported, not swallowed.
      if (round === 0) expect(run.warnings.length).toBeGreaterThan(0);
    }
    // Folders planted where entries belong are still there (never deleted blindly); everything else healed.
    const healed = open(location);
    expect(await healed.checkAll()).toEqual([]);
    await healed.memory.close();
  }, 60_000);

  it('hostile: the index corrupted while a Memory has it open: calls keep returning right values, stats and reduceSize warn instead of throwing', async () => {
    const location = folders.make();
    const run = open(location);
    expect(await run.checkAll()).toEqual([]);
    await run.memory.stats();
    const file = join(location, 'index.sqlite');
    const bytes = readFileSync(file);
    bytes.fill(0x33, 0, Math.min(bytes.length, 4096)); // the header page: SQLite cannot read the database any more
    writeFileSync(file, bytes);
    rmSync(`${file}-wal`, { force: true });
    expect(await run.checkAll()).toEqual([]);
    await expect(run.memory.stats()).resolves.toBeDefined();
    await expect(run.memory.reduceSize({ itemsLimit: 1000 })).resolves.toBeDefined();
    await run.memory.close();
    for (const w of run.warnings) expect(['LARDER_ENTRY_CORRUPT', 'LARDER_NOT_STORED', 'LARDER_INDEX']).toContain(w.code);
    const again = open(location);
    expect(await again.checkAll()).toEqual([]);
    expect((await again.memory.stats()).entries).toBe(3 * KEYS);
    await again.memory.close();
  }, 30_000);
});
