import { execFileSync } from 'node:child_process';
import { readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { FileLeaseStore, Memory, type LeaseStore } from '@larder/memory';
import { entryFile, testMemory } from './helpers.js';

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** Two Memories on one location in this thread: each has its own in-thread dedup, so only the lease can join them. */
function twoMemories(options: { dedupe?: boolean; leaseMs?: number } = {}) {
  const first = testMemory(options);
  const second = testMemory(options, first.location);
  const evaluations: number[] = [];
  const body = async (x: number) => {
    evaluations.push(x);
    await sleep(150);
    return { x, squared: new Float64Array([x * x]) };
  };
  return { first, second, evaluations, f1: first.memory.cache(body, { name: 'slow' }), f2: second.memory.cache(body, { name: 'slow' }) };
}

/** Stores slow(x) once to learn its entry path, then removes the file (the folder stays) and forgets the evaluation. */
async function entryPathOf(f: (x: number) => Promise<unknown>, evaluations: number[], location: string, x: number): Promise<string> {
  const { info } = await (f as unknown as { call(x: number): Promise<{ info: { id: string } }> }).call(x);
  const path = entryFile(location, info.id);
  unlinkSync(path);
  evaluations.length = 0;
  return path;
}

describe('lease', () => {
  it("lease: a miss takes the lease unless the function's last computation here took under 5 ms (as Memory measured it)", async () => {
    const { location } = testMemory();
    const files = new FileLeaseStore(join(location, 'results'));
    const acquired: string[] = [];
    const leases: LeaseStore = {
      description: 'lease files that record each acquire',
      acquire: (key, ttlMs) => (acquired.push(key), files.acquire(key, ttlMs)),
      renew: (key, token, ttlMs) => files.renew(key, token, ttlMs),
      release: (key, token) => files.release(key, token),
      takeOver: (key, ttlMs) => files.takeOver(key, ttlMs),
    };
    const { memory } = testMemory({ leases }, location);
    const fast = memory.cache((x: number) => x + 1, { name: 'fast' });
    const slow = memory.cache(async (x: number) => (await sleep(10), x + 1), { name: 'slowish' });
    const args = [1, 2, 3, 4, 5];
    for (const x of args) await fast(x);
    for (const x of args) await slow(x);
    const leased = [...acquired];
    // What each call took as Memory recorded it, in call order: a loaded machine may stretch even
    // x + 1 past 5 ms, and then the next miss rightly takes the lease. (.call() recomputes, after the record is read.)
    const computeMs = new Map((await memory.list()).map((entry) => [entry.id, entry.computeMs]));
    const inCallOrder = async (f: { call(x: number): Promise<{ info: { id: string } }> }) => {
      const calls: { id: string; computeMs: number }[] = [];
      for (const x of args) {
        const { id } = (await f.call(x)).info;
        calls.push({ id, computeMs: computeMs.get(id)! });
      }
      return calls;
    };
    const fastCalls = await inCallOrder(fast);
    const slowCalls = await inCallOrder(slow);
    for (const calls of [fastCalls, slowCalls]) {
      // The first miss cannot know yet how long the function takes; each later one goes by the one before it.
      const expected = calls.map((_, i) => i === 0 || calls[i - 1]!.computeMs >= 5);
      expect(calls.map(({ id }) => leased.includes(id))).toEqual(expected);
    }
    // Both sides of the rule were met: x + 1 took under 5 ms at least once in four tries, 10 ms of sleep never did.
    const fastMs = fastCalls.map((call) => call.computeMs);
    expect(fastMs.slice(0, -1).some((ms) => ms < 5), `fast computations (ms): ${fastMs.join(', ')}`).toBe(true);
    expect(slowCalls.every((call) => call.computeMs >= 5)).toBe(true);
    expect(leased).toHaveLength(new Set(leased).size); // one acquire a miss, no retries
  });

  it('lease: concurrent identical misses from two Memories on one location compute once; the other waits and reads the result', async () => {
    const { f1, f2, evaluations, first, second } = twoMemories();
    const results = await Promise.all([f1(3), f2(3), f1(3), f2(3)]);
    expect(evaluations).toEqual([3]);
    for (const r of results) expect(r.squared[0]).toBe(9);
    const stats = await first.memory.stats();
    await second.memory.close();
    const after = await first.memory.stats();
    expect(stats.entries).toBe(1);
    expect(after.misses + after.hits).toBe(2); // one Memory computed, the other read what it stored (in-thread sharing aside)
    expect(filesUnder(first.location).filter((f) => f.includes('.lease'))).toEqual([]);
  });

  it('lease: dedupe: false restores joblib behaviour: both compute', async () => {
    const { f1, f2, evaluations } = twoMemories({ dedupe: false });
    await Promise.all([f1(4), f2(4)]);
    expect(evaluations).toEqual([4, 4]);
  });

  it('lease: a lease left by a process that died is taken over at once, not after leaseMs', async () => {
    const { first, f1, evaluations } = twoMemories({ leaseMs: 60_000 });
    const entry = await entryPathOf(f1, evaluations, first.location, 5);
    const deadPid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']));
    writeFileSync(`${entry}.lease`, JSON.stringify({ host: hostname(), pid: deadPid, thread: 0, token: 'dead' }));
    const started = Date.now();
    expect((await f1(5)).x).toBe(5);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(evaluations).toEqual([5]);
  });

  it('lease: a lease nobody renews (a dead worker thread of a live process) expires after leaseMs', async () => {
    const { first, f1, evaluations } = twoMemories({ leaseMs: 400 });
    const entry = await entryPathOf(f1, evaluations, first.location, 6);
    // Our own pid is alive, so only the age can free this lease.
    writeFileSync(`${entry}.lease`, JSON.stringify({ host: hostname(), pid: process.pid, thread: 99, token: 'orphan' }));
    const started = Date.now();
    expect((await f1(6)).x).toBe(6);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(350);
    expect(waited).toBeLessThan(5_000);
    expect(evaluations).toEqual([6]);
  });

  it('lease: a live holder keeps renewing, so a long computation is not taken over', async () => {
    const { first, second } = twoMemories({ leaseMs: 300 }); // renewed every 100 ms; the computation lasts 3 leases
    const evaluations: number[] = [];
    const body = async (x: number) => { evaluations.push(x); await sleep(900); return x; };
    const a = first.memory.cache(body, { name: 'long' });
    const b = second.memory.cache(body, { name: 'long' });
    expect(await Promise.all([a(1), sleep(50).then(() => b(1))])).toEqual([1, 1]);
    expect(evaluations).toEqual([1]);
  });

  it('lease: when the holder throws, a waiter computes itself (exceptions are not cached)', async () => {
    const { first, second } = twoMemories();
    let calls = 0;
    const body = async (x: number) => { calls++; await sleep(100); if (calls === 1) throw new Error('first attempt fails'); return x; };
    const a = first.memory.cache(body, { name: 'flaky' });
    const b = second.memory.cache(body, { name: 'flaky' });
    const [ra, rb] = await Promise.allSettled([a(2), sleep(20).then(() => b(2))]);
    expect(ra).toMatchObject({ status: 'rejected', reason: { message: 'first attempt fails' } });
    expect(rb).toEqual({ status: 'fulfilled', value: 2 });
    expect(calls).toBe(2);
  });

  it('lease: the lease files give exactly one holder; the file is released and never listed as an entry', async () => {
    const { memory, location } = testMemory();
    const leases = new FileLeaseStore(join(location, 'results'));
    const key = 'f/0123456789abcdef/x';
    const one = await leases.acquire(key, 1000);
    const two = await leases.acquire(key, 1000);
    expect([one.kind, two.kind]).toEqual(['held', 'busy']);
    expect(filesUnder(location)).toContain(join('results', 'f', '0123456789abcdef', 'x.larder.lease'));
    expect((await memory.list()).length).toBe(0);
    if (one.kind === 'held') await leases.release(key, one.token);
    const again = await leases.acquire(key, 1000);
    expect(again.kind).toBe('held');
    if (again.kind === 'held') await leases.release(key, again.token);
  });

  it('lease: a LeaseStore passed as `leases` coordinates the misses of two Memories (the seam a Redis or Postgres lease plugs into)', async () => {
    const { location } = testMemory();
    const files = new FileLeaseStore(join(location, 'results'));
    const calls: string[] = [];
    const leases: LeaseStore = {
      description: 'counting lease files',
      acquire: (key, ttlMs) => (calls.push(`acquire ${key}`), files.acquire(key, ttlMs)),
      renew: (key, token, ttlMs) => files.renew(key, token, ttlMs),
      release: (key, token) => (calls.push(`release ${key}`), files.release(key, token)),
      takeOver: (key, ttlMs) => files.takeOver(key, ttlMs),
    };
    const first = testMemory({ leases }, location);
    const second = testMemory({ leases }, location);
    let evaluations = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const body = async (x: number) => {
      evaluations++;
      await finished;
      return x * 2;
    };
    const f1 = first.memory.cache(body, { name: 'slow' });
    const f2 = second.memory.cache(body, { name: 'slow' });
    const acquires = () => calls.filter((c) => c.startsWith('acquire')).length;
    const one = f1(4);
    while (evaluations === 0) await sleep(5); // the first holds the lease and computes
    const two = f2(4);
    while (acquires() < 2) await sleep(5); // the second found it busy, through the store passed in
    finish();
    expect(await Promise.all([one, two])).toEqual([8, 8]);
    expect(evaluations).toBe(1);
    expect(calls.filter((c) => c.startsWith('release')).length).toBe(1);
    expect(calls.every((c) => /^(acquire|release) slow\/[0-9a-f]{16,}\/[0-9a-f]{16,}$/.test(c))).toBe(true);
  });

  it("lease: clearing a function removes its lease files too (a dead holder's, one set aside by a takeover), and only larder's", async () => {
    const { first, f1, evaluations } = twoMemories();
    const entry = await entryPathOf(f1, evaluations, first.location, 7);
    await f1(8);
    writeFileSync(`${entry}.lease`, JSON.stringify({ host: hostname(), pid: 1, thread: 0, token: 'left' }));
    writeFileSync(`${entry}.lease.0a1b2c3d4e5f.stale`, 'set aside');
    writeFileSync(join(entry, '..', 'notes.txt'), 'mine');
    await f1.clear();
    expect(filesUnder(first.location).filter((f) => f.startsWith('results'))).toEqual([join(entry, '..', 'notes.txt').slice(first.location.length + 1)]);
  });

  it('lease: `leases` that is not a LeaseStore is a LARDER_OPTION error', () => {
    expect(() => new Memory(null, { leases: { acquire() {} } as never })).toThrow(expect.objectContaining({ code: 'LARDER_OPTION', message: expect.stringContaining('leases') }));
  });
});
