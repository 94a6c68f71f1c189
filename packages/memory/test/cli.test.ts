import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { tempDir } from './helpers.js';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Runs the real `larder` command in a child process. */
function larder(...args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', cli, ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let location: string;
beforeAll(async () => {
  location = tempDir();
  const memory = new Memory(location);
  const f = memory.cache(function simulate(n: number) { return new Float64Array(n); }, { name: 'simulate' });
  const g = memory.cache(function label(n: number) { return `n=${n}`; }, { name: 'label' });
  for (const n of [1000, 2000, 3000]) await f(n);
  await f(1000);
  await g(1);
  await memory.close();
});

describe('larder CLI', () => {
  it('cli: stats prints totals and a per-function table, or JSON', () => {
    const text = larder('stats', location);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/entries +4 \(/);
    expect(text.stdout).toMatch(/hits \/ misses +1 \/ 4/);
    expect(text.stdout).toMatch(/^simulate +3 +\S+ KiB +1 +3 /m);
    const json = JSON.parse(larder('stats', location, '--json').stdout);
    expect(json).toMatchObject({ entries: 4, hits: 1, misses: 4, perFunction: { simulate: { entries: 3 }, label: { entries: 1 } } });
  }, 180_000);

  it('cli: ls streams every entry from the index; --json prints NDJSON, one entry per line', () => {
    const out = larder('ls', location);
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split('\n')).toHaveLength(5);
    const lines = larder('ls', location, '--json').stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    const json = lines.map((line) => JSON.parse(line) as { functionName: string; stale: boolean });
    expect(json.map((e) => e.functionName).sort()).toEqual(['label', 'simulate', 'simulate', 'simulate']);
    expect(json.every((e) => e.stale === false)).toBe(true);
    expect(larder('ls', location, '--json', '--function', 'label').stdout.trim().split('\n')).toHaveLength(1);
  }, 180_000);

  it('cli: ls pages through a location of many entries, each once; a reader that goes away early (larder ls | head) is no failure', async () => {
    const place = tempDir();
    const memory = new Memory(place);
    const f = memory.cache(function square(n: number) { return n * n; }, { name: 'square' });
    for (let n = 0; n < 1500; n++) await f(n);
    await memory.close();
    const ids = larder('ls', place, '--json').stdout.trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id);
    expect(new Set(ids).size).toBe(1500);
    expect(ids).toEqual([...ids].sort());
    const child = spawn(process.execPath, ['--conditions=larder-source', '--import', 'tsx', cli, 'ls', place], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.stdout.once('data', () => child.stdout.destroy());
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(stderr).toBe('');
    expect(code).toBe(0);
  }, 180_000);

  it('cli: stale versions show in stats and ls, and prune --stale removes them (not the version in use)', async () => {
    const place = tempDir();
    const old = new Memory(place);
    const v1 = old.cache(function step(n: number) { return n + 1; }, { name: 'step' });
    await v1(1), await v1(2);
    await old.close();
    await new Promise((r) => setTimeout(r, 30));
    const current = new Memory(place);
    await current.cache(function step(n: number) { return n + 2; }, { name: 'step' })(1);
    await current.close();
    expect(JSON.parse(larder('stats', place, '--json').stdout)).toMatchObject({ entries: 3, staleEntries: 0 });
    expect(JSON.parse(larder('stats', place, '--json', '--stale-after', '10ms').stdout)).toMatchObject({ entries: 3, staleEntries: 2 });
    expect(larder('ls', place, '--stale', '--stale-after', '10ms', '--json').stdout.trim().split('\n')).toHaveLength(2);
    expect(larder('ls', place, '--stale-after', '10ms').stdout).toMatch(/ stale$/m);
    expect(JSON.parse(larder('prune', place, '--stale', '--json').stdout)).toEqual({ removed: 0, freedBytes: 0 });
    expect(JSON.parse(larder('prune', place, '--stale', '--stale-after', '10ms', '--json').stdout)).toMatchObject({ removed: 2 });
    const left = larder('ls', place, '--json').stdout.trim().split('\n').map((line) => JSON.parse(line) as { stale: boolean });
    expect(left).toHaveLength(1);
    expect(larder('ls', place, '--stale-after', 'soon').code).toBe(2);
    expect(larder('stats', place, '--stale').code).toBe(2);
  }, 180_000);

  it('cli: prune removes least recently used entries until the limits hold', () => {
    const out = larder('prune', location, '--items-limit', '3', '--json');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ removed: 1 });
    expect(larder('prune', location, '--bytes-limit', '10G', '--age-limit', '30d').stdout).toBe('removed 0 entries, freed 0 B\n');
  }, 180_000);

  it('cli: reconcile drops index rows of files that are gone and adds rows for files the index lost', async () => {
    const place = tempDir();
    const memory = new Memory(place);
    const f = memory.cache(function twice(n: number) { return 2 * n; }, { name: 'twice' });
    await f(1);
    await f(2);
    await memory.close();
    const files = readdirSync(join(place, 'results'), { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.larder'));
    expect(files).toHaveLength(2);
    rmSync(join(place, 'results', files[0]!));
    expect(JSON.parse(larder('reconcile', place, '--json').stdout)).toEqual({ added: 0, removed: 1 });
    for (const name of readdirSync(place).filter((name) => name.startsWith('index.sqlite'))) rmSync(join(place, name));
    expect(larder('reconcile', place).stdout).toBe('index rows added for 1 file, removed for 0 missing files\n');
    expect(JSON.parse(larder('reconcile', place, '--json').stdout)).toEqual({ added: 0, removed: 0 });
  }, 180_000);

  it('cli: clear --function removes one function, clear removes all', () => {
    expect(larder('clear', location, '--function', 'label').stdout).toBe('removed 1 entry of label\n');
    const all = larder('clear', location, '--json');
    expect(JSON.parse(all.stdout)).toEqual({ removed: 2, function: null });
    expect(JSON.parse(larder('stats', location, '--json').stdout)).toMatchObject({ entries: 0 });
  }, 180_000);

  it('cli: bad usage exits 2 with a message; a folder that is not a location is refused', () => {
    const unknown = larder('explode', location);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/larder: unknown command "explode"/);
    const notLocation = larder('stats', tempDir());
    expect(notLocation.code).toBe(2);
    expect(notLocation.stderr).toMatch(/is not a larder cache/);
    // Regression: bad limit values exited 1 (failure) instead of 2 (usage).
    const badLimit = larder('prune', location, '--bytes-limit', 'huge');
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toMatch(/--bytes-limit must be .* got "huge"/);
    const badItems = larder('prune', location, '--items-limit', 'abc');
    expect(badItems.code).toBe(2);
    expect(badItems.stderr).toMatch(/--items-limit must be a whole number, got "abc"/);
    const badAge = larder('prune', location, '--age-limit', 'soon');
    expect(badAge.code).toBe(2);
    expect(badAge.stderr).toMatch(/--age-limit/);
    expect(larder('prune', location).stderr).toMatch(/prune needs --stale or at least one of/);
    expect(larder('--help').stdout).toMatch(/^Usage: larder <command>/);
  }, 180_000);

  it('cli: regression: a prune limit given to another command is bad usage (larder clear --bytes-limit 10G removed every entry), and nothing is removed', async () => {
    const place = tempDir();
    const memory = new Memory(place);
    const f = memory.cache(function cube(n: number) { return n ** 3; }, { name: 'cube' });
    for (const n of [1, 2, 3]) await f(n);
    await memory.close();
    for (const [command, flag, value] of [['clear', '--bytes-limit', '10G'], ['clear', '--items-limit', '100'], ['clear', '--age-limit', '30d'], ['stats', '--bytes-limit', '1G'], ['ls', '--items-limit', '5'], ['reconcile', '--age-limit', '1d']]) {
      const out = larder(command!, place, flag!, value!);
      expect(out.code).toBe(2);
      expect(out.stderr).toContain(`larder: ${flag} applies to prune, not ${command}`);
    }
    expect(JSON.parse(larder('stats', place, '--json').stdout)).toMatchObject({ entries: 3 });
  }, 180_000);

  it('cli: regression: --stale-after given to clear or reconcile, and any option given twice, are bad usage (clear --stale-after 30d removed every entry; --function a --function b cleared only b), and nothing is removed', async () => {
    const place = tempDir();
    const memory = new Memory(place);
    const f = memory.cache(function cube(n: number) { return n ** 3; }, { name: 'cube' });
    const g = memory.cache(function square(n: number) { return n ** 2; }, { name: 'square' });
    for (const n of [1, 2, 3]) await f(n), await g(n);
    await memory.close();
    for (const command of ['clear', 'reconcile']) {
      const out = larder(command, place, '--stale-after', '30d');
      expect(out.code).toBe(2);
      expect(out.stderr).toContain(`larder: --stale-after applies to stats, ls and prune, not ${command}`);
    }
    for (const args of [['clear', place, '--function', 'cube', '--function', 'square'], ['prune', place, '--items-limit', '5', '--items-limit', '1'], ['ls', place, '--json', '--json']]) {
      const out = larder(...args);
      expect(out.code).toBe(2);
      expect(out.stderr).toMatch(/larder: --(function|items-limit|json) is given more than once/);
    }
    expect(JSON.parse(larder('stats', place, '--json').stdout)).toMatchObject({ entries: 6 });
  }, 180_000);
});
