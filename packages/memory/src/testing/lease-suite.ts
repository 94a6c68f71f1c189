/**
 * The in-flight lease contract, as a suite any `LeaseStore` runs (the lease
 * files in this repo; a user's Redis or Postgres store in theirs), in the
 * manner of keyv's test-suite: a function of the test runner and a factory.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import type { LeaseStore } from '../lease.js';
import type { ConformanceRunner } from './runner.js';

/** Options of {@link leaseStoreConformance}: the test runner's `describe` and `it`, and the suite's settings. */
export interface LeaseConformanceOptions extends ConformanceRunner {
  /**
   * The lease time the tests use (ms). Waits in the suite are a few times this.
   * @default 800
   */
  ttlMs?: number;
  /**
   * To check that a holder killed with SIGKILL is taken over within the lease time: a module a
   * child process can import, exporting `createLeaseStore(): LeaseStore | Promise<LeaseStore>`
   * on the same backend, and the Node flags the child needs to import it (e.g.
   * `['--import', 'tsx']` for a TypeScript module). Without it that test is left out.
   * @default undefined
   */
  killedHolder?: { module: string | URL; execArgv?: string[] };
  /**
   * Names the suite in the report.
   * @default none (the suite is titled by what it tests)
   */
  name?: string;
}

/**
 * Registers the conformance tests of a {@link LeaseStore} implementation: acquire gives one holder, release and renew
 * act only under the holder's token, a live lease is never taken over, one left unrenewed
 * for `ttlMs` is, and (with `killedHolder`) a holder process killed with SIGKILL is taken
 * over within the lease time. `factory` makes a store for each test (it may share state
 * with the others: each test uses keys of its own under a random prefix). Assertions are
 * node:assert's, so it runs under vitest, node:test, mocha or jest.
 *
 * @example
 * ```ts
 * // lease.test.ts (vitest)
 * import { describe, it } from 'vitest';
 * import { FileLeaseStore } from '@larder/memory';
 * import { leaseStoreConformance } from '@larder/memory/testing';
 * leaseStoreConformance(() => new FileLeaseStore('/tmp/larder-leases'), { describe, it });
 * ```
 */
export function leaseStoreConformance(factory: () => LeaseStore | Promise<LeaseStore>, options: LeaseConformanceOptions): void {
  const { describe, it } = options;
  if (typeof factory !== 'function') throw new TypeError('[larder/memory] leaseStoreConformance(factory, options): factory must be a function that makes a lease store');
  if (typeof describe !== 'function' || typeof it !== 'function') throw new TypeError("[larder/memory] leaseStoreConformance(factory, options): pass your test runner's describe and it");
  const ttlMs = options.ttlMs ?? 800;
  const prefix = `lease-suite/${randomBytes(8).toString('hex')}`;
  let counter = 0;
  const newKey = () => `${prefix}/${(counter++).toString(16).padStart(16, '0')}`;
  const withStore = async (body: (store: LeaseStore) => Promise<void>) => {
    const store = await factory();
    try {
      await body(store);
    } finally {
      await store.close?.();
    }
  };
  const slow = ttlMs * 6 + 5_000;

  describe(`LeaseStore conformance${options.name === undefined ? '' : `: ${options.name}`}`, () => {
    it('lease: of concurrent acquires of one key exactly one is held; the others are busy', () => withStore(async (store) => {
      const key = newKey();
      const attempts = await Promise.all(Array.from({ length: 8 }, () => store.acquire(key, ttlMs)));
      assert.equal(attempts.filter((a) => a.kind === 'held').length, 1);
      assert.equal(attempts.filter((a) => a.kind === 'busy').length, 7);
      const held = attempts.find((a) => a.kind === 'held');
      if (held?.kind === 'held') await store.release(key, held.token);
    }));

    it('lease: release frees the key for the next acquire; keys are independent', () => withStore(async (store) => {
      const key = newKey();
      const other = newKey();
      const first = await store.acquire(key, ttlMs);
      assert.equal(first.kind, 'held');
      assert.equal((await store.acquire(other, ttlMs)).kind, 'held');
      if (first.kind === 'held') await store.release(key, first.token);
      const second = await store.acquire(key, ttlMs);
      assert.equal(second.kind, 'held');
      if (second.kind === 'held') assert.equal(second.token === (first as { token: string }).token, false);
    }));

    it("lease: release and renew with another holder's token change nothing", () => withStore(async (store) => {
      const key = newKey();
      const held = await store.acquire(key, ttlMs);
      assert.equal(held.kind, 'held');
      await store.release(key, 'not-the-token');
      assert.equal((await store.acquire(key, ttlMs)).kind, 'busy');
      assert.equal(await store.renew(key, 'not-the-token', ttlMs), false);
      if (held.kind !== 'held') return;
      assert.equal(await store.renew(key, held.token, ttlMs), true);
      await store.release(key, held.token);
      assert.equal(await store.renew(key, held.token, ttlMs), false);
    }));

    it('lease: a lease renewed within ttlMs is never taken over', () => withStore(async (store) => {
      const key = newKey();
      const held = await store.acquire(key, ttlMs);
      if (held.kind !== 'held') return void assert.equal(held.kind, 'held');
      for (let i = 0; i < 4; i++) {
        await sleep(ttlMs / 2);
        assert.equal(await store.renew(key, held.token, ttlMs), true);
        assert.equal(await store.takeOver(key, ttlMs), false);
        assert.equal((await store.acquire(key, ttlMs)).kind, 'busy');
      }
      await store.release(key, held.token);
    }), slow);

    it('lease: a lease nobody renews for ttlMs is taken over, and its old token no longer renews or releases it', () => withStore(async (store) => {
      const key = newKey();
      const stale = await store.acquire(key, ttlMs);
      if (stale.kind !== 'held') return void assert.equal(stale.kind, 'held');
      await sleep(ttlMs + 200);
      await store.takeOver(key, ttlMs); // true, or false where leases expire by themselves
      const next = await store.acquire(key, ttlMs);
      assert.equal(next.kind, 'held');
      assert.equal(await store.renew(key, stale.token, ttlMs), false);
      await store.release(key, stale.token);
      assert.equal((await store.acquire(key, ttlMs)).kind, 'busy');
      if (next.kind === 'held') await store.release(key, next.token);
    }), slow);

    const holder = options.killedHolder;
    if (holder) {
      it('lease: a holder process killed with SIGKILL is taken over within the lease time', () => withStore(async (store) => {
        const key = newKey();
        const child = await startHolder(holder, key, ttlMs);
        try {
          assert.equal((await store.acquire(key, ttlMs)).kind, 'busy');
          child.process.kill('SIGKILL');
          await child.exited;
          const killedAt = Date.now();
          let taken = false;
          while (!taken && Date.now() - killedAt < ttlMs * 4) {
            await store.takeOver(key, ttlMs);
            const attempt = await store.acquire(key, ttlMs);
            if (attempt.kind === 'held') {
              taken = true;
              await store.release(key, attempt.token);
            } else await sleep(Math.max(5, ttlMs / 20));
          }
          assert.equal(taken, true);
          // Renewed every ttlMs / 3 until the kill: the lease is free at most ttlMs after it.
          const waitedMs = Date.now() - killedAt;
          assert.ok(waitedMs <= ttlMs + Math.max(250, ttlMs / 4), `taken over ${waitedMs} ms after the kill; the lease time is ${ttlMs} ms`);
        } finally {
          child.process.kill('SIGKILL');
        }
      }), 60_000);
    }
  });
}

/** Starts a child process that takes the lease of `key` through the user's module and renews it until killed. */
async function startHolder(holder: { module: string | URL; execArgv?: string[] }, key: string, ttlMs: number) {
  const script = fileURLToPath(new URL(`./lease-holder.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
  const moduleUrl = holder.module instanceof URL ? holder.module.href : holder.module;
  const child = spawn(process.execPath, [...(holder.execArgv ?? []), script, moduleUrl, key, String(ttlMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the lease holder process did not report a held lease within 30 s: ${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('held\n')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the lease holder process exited before holding the lease: ${output}`));
    });
  });
  return { process: child, exited };
}
