/**
 * Memory across machines, as issue 11's example: `new Memory('s3://bucket/prefix',
 * { index: 'redis://…' })`. Two "machines" are two processes with separate
 * temp folders (so separate S3 read-through caches) and only the servers in
 * common: the second hits what the first stored. clear() touches only the
 * location's prefix and the index's namespace.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { s3Fetch } from './s3-sign.js';
import { requireService, serviceSettings, tcpReachable } from './settings.js';

const run = promisify(execFile);
const settings = serviceSettings();
const runId = `${process.pid}-${randomBytes(4).toString('hex')}`;
const bucket = `larder-memory-s3-${runId}`;
const root = fileURLToPath(new URL('../..', import.meta.url));
const execArgv = ['--conditions=larder-source', '--import', 'tsx'];
const reachable = settings.s3 !== undefined && settings.redis !== undefined && (await tcpReachable(settings.s3.endpoint)) && (await tcpReachable(settings.redis));
const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function scratch(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `larder-memory-s3-${name}-`));
  dirs.push(dir);
  return dir;
}

describe('Memory on S3 with a Redis index', () => {
  it('needs S3 (radosgw) and Redis (scripts/services.sh start)', async (context) => {
    await requireService(context, 'S3 (radosgw)', settings.s3, (s3) => tcpReachable(s3.endpoint));
    await requireService(context, 'redis', settings.redis, tcpReachable);
  });

  if (!reachable) return;
  const s3 = settings.s3!;
  const index = `${settings.redis!.href}${settings.redis!.search ? '&' : '?'}namespace=t-memory-s3-${runId}`;
  const env = { ...process.env, AWS_ENDPOINT_URL_S3: s3.endpoint.href, AWS_REGION: s3.region, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };

  beforeAll(async () => {
    const response = await s3Fetch(s3, { method: 'PUT', path: `/${bucket}` });
    if (response.status !== 200) throw new Error(`creating bucket ${bucket}: ${response.status} ${await response.text()}`);
  });

  afterAll(async () => {
    const listing = await (await s3Fetch(s3, { method: 'GET', path: `/${bucket}?list-type=2` })).text();
    for (const [, key] of listing.matchAll(/<Key>([^<]+)<\/Key>/g)) await s3Fetch(s3, { method: 'DELETE', path: `/${bucket}/${key}` });
    await s3Fetch(s3, { method: 'DELETE', path: `/${bucket}` });
  });

  it('a second machine hits what the first stored (one computation), large values included', { timeout: 120_000 }, async () => {
    const marks = join(scratch('marks'), 'computed');
    const machine = (arg: number) =>
      run(process.execPath, [...execArgv, fileURLToPath(new URL('./fixtures/s3-machine.ts', import.meta.url)), `s3://${bucket}/sweeps`, index, String(arg), marks], {
        cwd: root,
        timeout: 60_000,
        env: { ...env, TMPDIR: scratch('machine') },
      });
    for (const n of [1_000, 2_000_000]) {
      // 16 MB at 2e6: above the S3 store's local-copy threshold, so the second machine fills its own copy.
      const first = JSON.parse((await machine(n)).stdout) as { length: number; sum: number };
      const second = JSON.parse((await machine(n)).stdout) as { length: number; sum: number };
      expect(second).toEqual(first);
      expect(first.length).toBe(n);
    }
    expect(readFileSync(marks, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('the s3 option carries the settings; stats come from the index; clear() removes only the prefix', { timeout: 60_000 }, async () => {
    const options = { index, s3: { endpoint: s3.endpoint.href, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, cacheDir: scratch('cache') } };
    const sibling = `/${bucket}/sweeps-other/keep.txt`;
    expect((await s3Fetch(s3, { method: 'PUT', path: sibling, body: new TextEncoder().encode('not larder') })).status).toBe(200);
    await using memory = new Memory(`s3://${bucket}/sweeps`, options);
    const twice = memory.cache((x: number) => x * 2, { name: 'twice' });
    expect(await twice(21)).toBe(42);
    expect(await twice(21)).toBe(42);
    expect(await twice.isCached(21)).toBe(true);
    const stats = await memory.stats();
    expect(stats.entries).toBeGreaterThanOrEqual(3); // twice(21), and the other test's two signals
    expect(stats.hits).toBeGreaterThanOrEqual(1);
    await memory.clear();
    expect((await memory.stats()).entries).toBe(0);
    expect(await twice.isCached(21)).toBe(false);
    expect((await s3Fetch(s3, { method: 'GET', path: sibling })).status).toBe(200);
    expect(() => new Memory(scratch('folder'), { s3: options.s3 })).toThrow(expect.objectContaining({ code: 'LARDER_OPTION' }));
  });
});
