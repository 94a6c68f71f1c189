import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Memory, MemoryError } from '@larder/memory';
import { entryFile, testMemory } from './helpers.js';

// Test files are transformed without keepNames, so two `function f` in one file may be renamed f2:
// tests that check names pass `name` explicitly, as bundled code should.
describe('cache', () => {
  it('cache: a second identical call is a hit and does not run the function', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const f = memory.cache(function f(a: number, b: { k: number[] }) { runs++; return { sum: a + b.k.length, arr: new Float64Array([a]) }; });
    const first = await f(1, { k: [1, 2] });
    const second = await f(1, { k: [1, 2] });
    expect(runs).toBe(1);
    expect(second).toEqual(first);
    expect(second.arr).toBeInstanceOf(Float64Array);
    await f(2, { k: [1, 2] });
    expect(runs).toBe(2);
  });

  it('cache: sync and async functions both work and the call returns a Promise', async () => {
    const { memory } = testMemory();
    const sync = memory.cache(function sync(x: number) { return x * 2; });
    const asyncFn = memory.cache(async function asyncFn(x: number) { await new Promise((r) => setTimeout(r, 1)); return `v${x}`; });
    const p = sync(2);
    expect(p).toBeInstanceOf(Promise);
    expect(await p).toBe(4);
    expect(await sync(2)).toBe(4);
    expect(await asyncFn(3)).toBe('v3');
    expect(await asyncFn(3)).toBe('v3');
  });

  it('cache: exceptions are not cached', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const flaky = memory.cache(function flaky(x: number) { runs++; if (runs === 1) throw new Error('first fails'); return x; });
    await expect(flaky(1)).rejects.toThrow('first fails');
    expect(await flaky(1)).toBe(1);
    expect(await flaky(1)).toBe(1);
    expect(runs).toBe(2);
    const rejects = memory.cache(async function rejects() { throw new TypeError('async fail'); });
    await expect(rejects()).rejects.toThrow(TypeError);
    expect(await rejects.isCached()).toBe(false);
  });

  it('cache: concurrent identical calls in one process share one computation', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const slow = memory.cache(async function slow(x: number) { runs++; await new Promise((r) => setTimeout(r, 30)); return x + 1; });
    const results = await Promise.all([slow(1), slow(1), slow(1), slow(2)]);
    expect(results).toEqual([2, 2, 2, 3]);
    expect(runs).toBe(2);
  });

  it('cache: a changed function body computes its own entries, keeps the old body\'s, and switching back hits them (said at verbose >= 1)', async () => {
    const location = testMemory().location;
    let runs = 0;
    const v1 = testMemory({}, location);
    const body1 = function f(x: number) { runs++; return x + 1; };
    const body2 = function f(x: number) { runs++; return x + 100; };
    const f1 = v1.memory.cache(body1, { name: 'f' });
    expect(await f1(1)).toBe(2);
    expect(await f1(2)).toBe(3);
    await v1.memory.close(); // its bookkeeping reaches the index, which the check reads
    const v2 = testMemory({ verbose: 1 }, location);
    const f2 = v2.memory.cache(body2, { name: 'f' });
    expect(await f2(1)).toBe(101);
    expect(v2.logs).toContain('[Memory] Function f has changed since it was cached (its source or version): computing its own entries; the 2 entries of 1 other body are kept');
    expect(readdirSync(join(location, 'results', 'f'))).toHaveLength(2);
    expect(runs).toBe(3);
    // Back to the first body (a reverted edit, another build): its entries are still there.
    const back = testMemory({}, location).memory.cache(body1, { name: 'f' });
    expect(await back(1)).toBe(2);
    expect(await back(2)).toBe(3);
    expect(await f2(1)).toBe(101);
    expect(runs).toBe(3);
  });

  it('cache: bumping version invalidates; the same version hits', async () => {
    const { memory, location } = testMemory();
    let runs = 0;
    const body = (x: number) => { runs++; return x; };
    await memory.cache(body, { name: 'g', version: 1 })(5);
    await memory.cache(body, { name: 'g', version: 1 })(5);
    expect(runs).toBe(1);
    // The next run of the program, with the version bumped (one Memory holds one identity per name).
    const { memory: rerun } = testMemory({}, location);
    await rerun.cache(body, { name: 'g', version: '2' })(5);
    expect(runs).toBe(2);
    await rerun.cache(body, { name: 'g', version: '2' })(5);
    expect(runs).toBe(2);
  });

  it('cache: values captured by closures are not in the key (documented)', async () => {
    const { memory } = testMemory();
    let factor = 2;
    const scaled = memory.cache(function scaled(x: number) { return x * factor; });
    expect(await scaled(3)).toBe(6);
    factor = 10;
    expect(await scaled(3)).toBe(6);
  });

  it('cache: ignore leaves argument positions out of the key', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const f = memory.cache(function f(x: number, log: (s: string) => void, y: number) { runs++; log('run'); return x + y; }, { ignore: [1] });
    expect(await f(1, () => undefined, 2)).toBe(3);
    expect(await f(1, (s) => void s, 2)).toBe(3);
    expect(runs).toBe(1);
    expect(await f(1, () => undefined, 3)).toBe(4);
    expect(runs).toBe(2);
  });

  it('cache: key derives the key from the arguments', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const f = memory.cache(function f(config: { id: string; onProgress: () => void }) { runs++; return config.id; }, { key: (config) => config.id });
    await f({ id: 'a', onProgress: () => undefined });
    await f({ id: 'a', onProgress: () => 1 });
    expect(runs).toBe(1);
  });

  it('cache: a function in the arguments is an error naming the argument', async () => {
    const { memory } = testMemory();
    const f = memory.cache(function f(x: number, cb: () => number) { return x + cb(); });
    await expect(f(1, () => 1)).rejects.toThrow(/cannot hash a function \(anonymous\) at args\[1\].*ignore/);
  });

  it('cache: trailing undefined arguments do not change the key', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const f = memory.cache(function f(x: number, y?: number) { runs++; return x + (y ?? 0); });
    await f(1);
    await f(1, undefined);
    expect(runs).toBe(1);
  });

  it('cache: anonymous functions need a name; bad options name themselves', () => {
    const memory = new Memory(null);
    const anonymous = [(x: number) => x][0]!;
    expect(() => memory.cache(anonymous)).toThrow(/needs a name for an anonymous function: pass \{ name: 'myFunction' \}/);
    expect(() => memory.cache(anonymous, { name: 'ok', ignore: [-1] })).toThrow('[larder/memory] ignore must be an array of argument positions (integers from 0), got an array of length 1');
    expect(() => memory.cache(anonymous, { name: 'ok', expiresAfter: 'later' })).toThrow(/expiresAfter must be .* got "later"/);
    expect(() => memory.cache(anonymous, { name: 'ok', verbose: -1 })).toThrow(/verbose must be a non-negative integer, got -1/);
    expect(() => memory.cache(anonymous, { name: 'ok', mmap: 'w' as 'r' })).toThrow(/mmap must be 'r' or undefined, got "w"/);
    expect(() => new Memory(42 as unknown as string)).toThrow(/location must be a folder path, a BlobStore object \(with description, get, put, putIfAbsent, version, replace, has, delete, list, removePrefix\), null or undefined, got 42/);
    try { memory.cache(anonymous); } catch (error) { expect((error as MemoryError).code).toBe('LARDER_OPTION'); }
  });

  it('cache: isCached reports without counting a hit; call always computes and refreshes', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const f = memory.cache(function f(x: number) { runs++; return x * runs; }, { name: 'f' });
    expect(await f.isCached(2)).toBe(false);
    expect(await f(2)).toBe(2);
    expect(await f.isCached(2)).toBe(true);
    const { value, info } = await f.call(2);
    expect(value).toBe(4);
    expect(info).toMatchObject({ functionName: 'f', cached: false, stored: true });
    expect(info.id).toMatch(/^f\/[0-9a-f]{16}\/[0-9a-f]{16}$/);
    expect(await f(2)).toBe(4);
    expect(runs).toBe(2);
    expect(f.fn(3)).toBe(9);
  });

  it('cache: callAndShelve returns a handle with id, get(), clear() and info', async () => {
    const { memory } = testMemory();
    const f = memory.cache(function f(n: number) { return new Int32Array(n).fill(7); }, { name: 'f' });
    const shelved = await f.callAndShelve(4);
    expect(shelved.id).toMatch(/^f\//);
    expect(shelved.info.cached).toBe(false);
    expect(await shelved.get()).toEqual(new Int32Array(4).fill(7));
    const again = await f.callAndShelve(4);
    expect(again.info.cached).toBe(true);
    expect(again.id).toBe(shelved.id);
    await shelved.clear();
    expect(await f.isCached(4)).toBe(false);
    await expect(shelved.get()).rejects.toMatchObject({ code: 'LARDER_SHELVED_MISSING' });
  });

  it('cache: clear() of a function removes only its entries', async () => {
    const { memory } = testMemory();
    const f = memory.cache(function f(x: number) { return x; });
    const g = memory.cache(function g(x: number) { return x; });
    await f(1), await f(2), await g(1);
    await f.clear();
    expect(await f.isCached(1)).toBe(false);
    expect(await f.isCached(2)).toBe(false);
    expect(await g.isCached(1)).toBe(true);
  });

  it('cache: expiresAfter recomputes entries older than the limit', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const f = memory.cache(function f(x: number) { runs++; return x; }, { expiresAfter: 40 });
    await f(1);
    await f(1);
    expect(runs).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(await f.isCached(1)).toBe(false);
    await f(1);
    expect(runs).toBe(2);
  });

  it('cache: regression: expiresAfter expires an entry dated in the future (a writer whose clock runs a day ahead) or at NaN; it was served until then, or forever', async () => {
    for (const skew of [86_400_000, NaN, Infinity]) {
      const { memory } = testMemory();
      let runs = 0;
      const f = memory.cache(function f(x: number) { runs++; return x; }, { expiresAfter: '1h' });
      const realNow = Date.now.bind(Date);
      const clock = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + skew);
      try {
        await f(1);
      } finally {
        clock.mockRestore();
      }
      expect(runs).toBe(1);
      expect(await f.isCached(1)).toBe(false);
      await f(1);
      expect(runs).toBe(2);
      await f(1); // the recomputed entry is dated now: a hit
      expect(runs).toBe(2);
      await memory.close();
    }
  });

  it('cache: regression: validate must return a boolean (an async validate\'s Promise is truthy, so every entry was served whatever it decided), and ignore with key is refused (key drops it)', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const body = (x: number) => { runs++; return x; };
    const asyncValidate = memory.cache(body, { name: 'av', validate: (async () => false) as never });
    await asyncValidate(1);
    await expect(asyncValidate(1)).rejects.toMatchObject({ code: 'LARDER_OPTION', message: expect.stringContaining('validate of av must return true or false, got a Promise: validate runs synchronously') });
    const noReturn = memory.cache(body, { name: 'nr', validate: (() => undefined) as never });
    await noReturn(1);
    await expect(noReturn(1)).rejects.toThrow('validate of nr must return true or false, got undefined');
    // A validate that throws rejects the call's promise (it threw synchronously out of the call).
    const throwing = memory.cache(body, { name: 'th', validate: () => { throw new Error('no verdict'); } });
    await throwing(1);
    let pending: Promise<number> | undefined;
    expect(() => { pending = throwing(1); }).not.toThrow();
    await expect(pending).rejects.toThrow('no verdict');
    expect(() => memory.cache(body, { name: 'ki', key: (x: number) => x, ignore: [1] })).toThrow(/ignore has no effect with key/);
    expect(() => memory.cache(body, { name: 'ke', key: (x: number) => x, ignore: [] })).not.toThrow();
    expect(runs).toBe(3);
  });

  it('cache: validate is consulted on hits only and false recomputes', async () => {
    const { memory } = testMemory();
    const seen: { cached: boolean; args: string }[] = [];
    let accept = true;
    let runs = 0;
    const f = memory.cache(function f(x: number) { runs++; return x; }, { validate: (info) => { seen.push({ cached: info.cached, args: info.args }); return accept; } });
    await f(7);
    expect(seen).toEqual([]);
    await f(7);
    expect(seen).toEqual([{ cached: true, args: '7' }]);
    accept = false;
    await f(7);
    expect(runs).toBe(2);
  });

  it('cache: a pass-through Memory (null or undefined) computes every time with the same API', async () => {
    for (const memory of [new Memory(), new Memory(null)]) {
      let runs = 0;
      const f = memory.cache(function f(x: number) { runs++; return x; });
      expect(await f(1)).toBe(1);
      expect(await f(1)).toBe(1);
      expect(runs).toBe(2);
      expect(await f.isCached(1)).toBe(false);
      const shelved = await f.callAndShelve(5);
      expect(shelved.id.length).toBeGreaterThan(0);
      expect(await shelved.get()).toBe(5);
      expect((await f.call(3)).value).toBe(3);
      await f.clear();
      await memory.clear();
      expect(await memory.reduceSize({ itemsLimit: 0 })).toEqual({ removed: 0, freedBytes: 0 });
      expect(await memory.stats()).toMatchObject({ entries: 0, bytes: 0, hits: 0, misses: 0 });
      await memory.close();
    }
  });

  it('cache: mmap "r" returns large arrays mapped from the entry file on a miss and on a hit alike', async () => {
    const { memory } = testMemory();
    const f = memory.cache(function f(n: number) { return { data: new Float64Array(n).map((_, i) => i) }; }, { mmap: 'r' });
    const miss = await f(100_000);
    const hit = await f(100_000);
    for (const value of [miss, hit]) {
      expect(value.data).toBeInstanceOf(Float64Array); // a MappedArray where store-fs's addon cannot load
      expect(value.data.length).toBe(100_000);
      expect(value.data.at(99_999)).toBe(99_999);
      expect((value.data as Float64Array).buffer.byteLength).toBeGreaterThan(800_000); // a view on the whole entry file
    }
  });

  it('cache: verbose 1 prints joblib-shaped lines on a miss, verbose 2 a Loading line on a hit', async () => {
    const { memory, logs } = testMemory({ verbose: 2 });
    const f = memory.cache(function f(a: number, big: Float64Array) { return a + big.length; }, { name: 'f' });
    await f(1, new Float64Array(1_000_000));
    await f(1, new Float64Array(1_000_000));
    expect(logs[0]).toBe(`${'_'.repeat(80)}\n[Memory] Calling f...\nf(1, Float64Array(1000000) [0, 0, 0, 0, 0, …])`);
    expect(logs[1]).toMatch(/^_+f - \d+\.\ds, \d+\.\dmin$/);
    expect(logs[1]).toHaveLength(80);
    expect(logs[2]).toMatch(/^\[Memory\]\d+\.\ds, \d+\.\dmin +: Loading f\(1, Float64Array\(1000000\) \[0, 0, 0, 0, 0, …\]\)\.\.\.$/);
    const quiet = testMemory();
    await quiet.memory.cache(function g() { return 1; })();
    expect(quiet.logs).toEqual([]);
  });

  it('cache: regression: a pass-through Memory prints nothing at any verbose level, as joblib\'s NotMemorizedFunc', async () => {
    const lines: string[] = [];
    const memory = new Memory(null, { verbose: 10, log: (line) => void lines.push(line) });
    const f = memory.cache(function f(x: number) { return x + 1; });
    expect(await f(1)).toBe(2);
    expect(await f(1)).toBe(2);
    expect(lines).toEqual([]);
  });

  it('cache: regression: a class instance argument (URL, Error) throws a HashError instead of returning another call\'s value', async () => {
    const { memory } = testMemory();
    let runs = 0;
    const host = memory.cache(function host(u: URL) { runs++; return u.hostname; }, { name: 'host' });
    await expect(host(new URL('http://a.com/'))).rejects.toThrow(/cannot hash an instance of class URL at args\[0\]/);
    const message = memory.cache(function message(e: Error) { runs++; return e.message; }, { name: 'message' });
    await expect(message(new Error('first'))).rejects.toMatchObject({ name: 'HashError', code: 'LARDER_UNHASHABLE', path: 'args[0]' });
    expect(runs).toBe(0);
    // The way out the error names: a key of what identifies the call.
    const keyed = memory.cache(function keyed(u: URL) { runs++; return u.hostname; }, { name: 'keyed', key: (u) => u.href });
    expect(await keyed(new URL('http://a.com/'))).toBe('a.com');
    expect(await keyed(new URL('http://b.com/'))).toBe('b.com');
    expect(await keyed(new URL('http://a.com/'))).toBe('a.com');
    expect(runs).toBe(2);
  });

  it('cache: regression: a bound or native function without version throws at cache() (its body is hidden, so an edit would return stale results)', async () => {
    const { memory } = testMemory();
    class Scaler { factor = 2; scale(x: number) { return x * this.factor; } }
    const scaler = new Scaler();
    expect(() => memory.cache(scaler.scale.bind(scaler))).toThrow(MemoryError);
    try {
      memory.cache(scaler.scale.bind(scaler));
    } catch (error) {
      expect((error as MemoryError).code).toBe('LARDER_OPTION');
      expect((error as Error).message).toMatch(/^\[larder\/memory\] memory\.cache\(fn\): bound scale is a bound or native function/);
      expect((error as Error).message).toMatch(/Pass \{ version \} and bump it/);
    }
    expect(() => memory.cache(Math.max, { name: 'max' })).toThrow(/a bound or native function/);
    expect(() => new Memory().cache(scaler.scale.bind(scaler))).toThrow(/a bound or native function/);
    // With a version the user owns the identity.
    const scale = memory.cache(scaler.scale.bind(scaler), { version: 1 });
    expect(await scale(21)).toBe(42);
    expect(await scale.isCached(21)).toBe(true);
  });

  it('cache: regression: two functions of one name each hit their own entries and never delete each other\'s, in one Memory or two programs', async () => {
    const { memory, location, warnings } = testMemory();
    let runs = 0;
    const processNumber = function process(x: number) { runs++; return x + 1; };
    const processText = function process(x: number) { runs++; return `${x}!`; };
    const a = memory.cache(processNumber, { name: 'process' });
    const b = memory.cache(processText, { name: 'process' });
    expect(await a(1)).toBe(2);
    expect(await b(1)).toBe('1!');
    expect(await a(1)).toBe(2);
    expect(await b(1)).toBe('1!');
    expect(runs).toBe(2);
    expect(await a.isCached(1)).toBe(true);
    expect(await (await a.callAndShelve(1)).get()).toBe(2);
    // Two programs (two Memories), each with its own `process`, alternating on one location.
    const other = testMemory({}, location).memory.cache(processText, { name: 'process' });
    const mine = testMemory({}, location).memory.cache(processNumber, { name: 'process' });
    expect(await other(1)).toBe('1!');
    expect(await mine(1)).toBe(2);
    expect(await other(1)).toBe('1!');
    expect(runs).toBe(2);
    expect(warnings).toEqual([]);
    // clear() is by name: it removes every body's entries of the name.
    await a.clear();
    expect(await b.isCached(1)).toBe(false);
  });

  it('cache: a large result (4 MiB and more) is stored by the async dump and read back by the async load, equal and as a hit', async () => {
    const { memory, warnings } = testMemory();
    let runs = 0;
    const big = memory.cache((n: number) => { runs++; return { n, values: Float64Array.from({ length: 1 << 20 }, (_, i) => i * n) }; }, { name: 'big' });
    const first = await big(3);
    const second = await big(3);
    expect(runs).toBe(1);
    expect(second.values).toBeInstanceOf(Float64Array);
    expect(second.n).toBe(3);
    expect(Buffer.from(second.values.buffer, second.values.byteOffset, second.values.byteLength).equals(Buffer.from(first.values.buffer, first.values.byteOffset, first.values.byteLength))).toBe(true);
    const { info } = await big.callAndShelve(3).then((shelved) => ({ info: shelved.info }));
    expect(info.cached).toBe(true);
    expect(warnings).toEqual([]);
  });

  it('cache: a damaged large entry is a miss on the async read path too: one LARDER_ENTRY_CORRUPT warning, recomputed and overwritten', async () => {
    const { memory, warnings, location } = testMemory();
    let runs = 0;
    const big = memory.cache((n: number) => { runs++; return new Float64Array(1 << 20).fill(n); }, { name: 'bigDamaged' });
    const { info } = await big.call(2);
    const { truncateSync } = await import('node:fs');
    truncateSync(entryFile(location, info.id), (1 << 23) - 100); // still large, now truncated
    expect((await big(2))[5]).toBe(2);
    expect(runs).toBe(2);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_ENTRY_CORRUPT']);
    expect((await big(2))[5]).toBe(2);
    expect(runs).toBe(2);
  });

  it('cache: a large result that cannot be stored (a class instance beside its arrays) is returned, with one LARDER_NOT_STORED warning', async () => {
    const { memory, warnings } = testMemory();
    class Model { constructor(readonly weights: Float64Array) {} }
    const fit = memory.cache((n: number) => ({ weights: new Float64Array(1 << 20).fill(n), model: new Model(new Float64Array(1)) }), { name: 'fit' });
    const result = await fit(1);
    expect(result.model).toBeInstanceOf(Model);
    expect(warnings.map((w) => w.code)).toEqual(['LARDER_NOT_STORED']);
    expect(await fit.isCached(1)).toBe(false);
  });
});
