/**
 * The servers of scripts/services.sh answer real requests: Redis over RESP,
 * PostgreSQL over its wire protocol, radosgw over signed S3 requests. Each
 * test skips, saying how to start the servers, when its server is not
 * running; with CI=true it fails instead. Run with `pnpm test:services`.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { s3Fetch } from './s3-sign.js';
import { requireService, serviceSettings, tcpReachable, type S3Settings } from './settings.js';
import { postgresQuery, redisCommands } from './wire.js';

const settings = serviceSettings();
/** Keys, buckets and rows of this run only, so runs and test files never meet. */
const runId = `${process.pid}-${randomBytes(4).toString('hex')}`;

describe('redis from scripts/services.sh', () => {
  it('answers PING and stores, returns and deletes a key', async (context) => {
    const url = await requireService(context, 'redis', settings.redis, tcpReachable);
    const key = `larder-services-test:${runId}`;
    const replies = await redisCommands(url, [['PING'], ['SET', key, 'värde', 'PX', '60000'], ['GET', key], ['DEL', key], ['GET', key]]);
    expect(replies).toEqual(['PONG', 'OK', 'värde', 1, null]);
  });

  it('listens on loopback only', async (context) => {
    const url = await requireService(context, 'redis', settings.redis, tcpReachable);
    const [bind] = await redisCommands(url, [['CONFIG', 'GET', 'bind']]);
    expect(bind).toEqual(['bind', '127.0.0.1']);
  });
});

describe('postgres from scripts/services.sh', () => {
  it('runs a query as the trusted postgres user in the larder database', async (context) => {
    const url = await requireService(context, 'postgres', settings.postgres, tcpReachable);
    const result = await postgresQuery(url, `select 1 + 1, current_database(), current_setting('listen_addresses')`);
    expect(result.rows).toEqual([['2', 'larder', '127.0.0.1']]);
    expect(result.serverVersion).toMatch(/^\d+(\.\d+)?/);
  });

  it('reports an SQL error as an error', async (context) => {
    const url = await requireService(context, 'postgres', settings.postgres, tcpReachable);
    await expect(postgresQuery(url, `select * from larder_no_such_table_${runId.replace('-', '_')}`)).rejects.toThrow(/42P01.*does not exist/);
  });
});

describe('S3 (radosgw) from scripts/services.sh', () => {
  const bucket = `larder-services-test-${runId}`;
  let created: Promise<S3Settings> | undefined;
  const objects = new Set<string>();

  /** The bucket of this file, made on first use. */
  function withBucket(s3: S3Settings): Promise<S3Settings> {
    created ??= s3Fetch(s3, { method: 'PUT', path: `/${bucket}` }).then(async (response) => {
      if (response.status !== 200) throw new Error(`creating bucket ${bucket}: ${response.status} ${await response.text()}`);
      return s3;
    });
    return created;
  }
  async function put(s3: S3Settings, key: string, body: Uint8Array, headers?: Record<string, string>): Promise<Response> {
    objects.add(key);
    return s3Fetch(s3, { method: 'PUT', path: `/${bucket}/${key}`, body, headers });
  }

  afterAll(async () => {
    if (!created) return;
    const s3 = await created;
    for (const key of objects) await s3Fetch(s3, { method: 'DELETE', path: `/${bucket}/${key}` });
    const response = await s3Fetch(s3, { method: 'DELETE', path: `/${bucket}` });
    expect(response.status).toBe(204);
  });

  it('stores an object in a bucket and returns the same bytes', async (context) => {
    const s3 = await withBucket(await requireService(context, 'S3 (radosgw)', settings.s3, (s) => tcpReachable(s.endpoint)));
    const body = randomBytes(300_000);
    expect((await put(s3, 'folder/entry one.bin', body)).status).toBe(200);
    const response = await s3Fetch(s3, { method: 'GET', path: `/${bucket}/folder/entry one.bin` });
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
    const listing = await s3Fetch(s3, { method: 'GET', path: `/${bucket}`, query: { 'list-type': '2', prefix: 'folder/' } });
    expect(await listing.text()).toContain('<Key>folder/entry one.bin</Key>');
  });

  it('a put with If-None-Match: * does not replace an existing object (412)', async (context) => {
    const s3 = await withBucket(await requireService(context, 'S3 (radosgw)', settings.s3, (s) => tcpReachable(s.endpoint)));
    expect((await put(s3, 'first-write', Buffer.from('first'), { 'if-none-match': '*' })).status).toBe(200);
    const second = await put(s3, 'first-write', Buffer.from('second'), { 'if-none-match': '*' });
    expect(second.status).toBe(412);
    const kept = await s3Fetch(s3, { method: 'GET', path: `/${bucket}/first-write` });
    expect(await kept.text()).toBe('first');
  });

  it('refuses a request signed with the wrong secret (403)', async (context) => {
    const s3 = await withBucket(await requireService(context, 'S3 (radosgw)', settings.s3, (s) => tcpReachable(s.endpoint)));
    const response = await s3Fetch({ ...s3, secretAccessKey: `${s3.secretAccessKey}-wrong` }, { method: 'GET', path: `/${bucket}` });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('SignatureDoesNotMatch');
  });
});
