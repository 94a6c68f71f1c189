/**
 * S3 store settings without a server: the location's bucket and prefix rules,
 * options over the AWS_* environment, path-style with a custom endpoint, and
 * the missing-driver message. The store against a real radosgw is in
 * test/services/s3-store.test.ts.
 */
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { S3BlobStore } from '@larder/store-fs';
import { loadS3Sdk } from '../src/s3-driver.js';
import { parseS3Location, resolveS3 } from '../src/s3-settings.js';

function optionError(run: () => unknown): { code?: string; message: string } {
  try {
    run();
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected an error');
}

describe('S3 locations', () => {
  it('s3://bucket[/prefix] gives the bucket and a prefix without slashes at the ends', () => {
    expect(parseS3Location('s3://bucket')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(parseS3Location('s3://bucket/')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(parseS3Location('s3://my.bucket-1/a/b_c/v1.2/')).toEqual({ bucket: 'my.bucket-1', prefix: 'a/b_c/v1.2' });
    expect(parseS3Location('S3://bucket/x')).toEqual({ bucket: 'bucket', prefix: 'x' });
  });

  it('a bucket name against the S3 rules is LARDER_OPTION saying which rule', () => {
    const cases: [string, RegExp][] = [
      ['s3://ab/x', /must have 3 to 63 characters/],
      [`s3://${'a'.repeat(64)}`, /must have 3 to 63 characters/],
      ['s3://Upper/x', /lowercase letters/],
      ['s3://under_score', /lowercase letters/],
      ['s3://-dash', /begin and end with a letter or digit/],
      ['s3://a..b', /must not contain '\.\.'/],
      ['s3://192.168.1.1', /IP address/],
      ['s3:///prefix', /must have 3 to 63/],
    ];
    for (const [location, reason] of cases) {
      const error = optionError(() => parseS3Location(location));
      expect(error.code, location).toBe('LARDER_OPTION');
      expect(error.message, location).toMatch(reason);
    }
  });

  it('a prefix with an empty, dot or foreign segment, or a query, is LARDER_OPTION', () => {
    for (const location of ['s3://bucket//x', 's3://bucket/a//b', 's3://bucket/../x', 's3://bucket/a/./b', 's3://bucket/sp ace', 's3://bucket/x?versionId=1', 's3://bucket/x#y', 'https://bucket/x']) {
      expect(optionError(() => parseS3Location(location)).code, location).toBe('LARDER_OPTION');
    }
  });
});

describe('S3 settings', () => {
  it('options win over the AWS_* environment; AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL; a custom endpoint means path-style', () => {
    const env = { AWS_ENDPOINT_URL: 'http://general:1', AWS_ENDPOINT_URL_S3: 'http://s3-only:2', AWS_REGION: 'eu-north-1' };
    expect(resolveS3('s3://bkt/p', undefined, env)).toMatchObject({ endpoint: 'http://s3-only:2', region: 'eu-north-1', forcePathStyle: true, bucket: 'bkt', prefix: 'p' });
    expect(resolveS3('s3://bkt', undefined, { AWS_ENDPOINT_URL: 'http://general:1' })).toMatchObject({ endpoint: 'http://general:1', region: 'us-east-1', forcePathStyle: true });
    expect(resolveS3('s3://bkt', { endpoint: 'https://mine:3', region: 'ap-south-1', forcePathStyle: false }, env)).toMatchObject({ endpoint: 'https://mine:3', region: 'ap-south-1', forcePathStyle: false });
    expect(resolveS3('s3://bkt', undefined, { AWS_DEFAULT_REGION: 'us-west-2' })).toMatchObject({ endpoint: undefined, region: 'us-west-2', forcePathStyle: false });
    const resolved = resolveS3('s3://bkt', undefined, {});
    expect([resolved.cacheDir.startsWith(os.tmpdir() + path.sep), resolved.cacheBytes, resolved.listPageSize]).toEqual([true, 2 * 1024 ** 3, 1000]);
  });

  it('a bad option is LARDER_OPTION naming it', () => {
    const cases: [object, RegExp][] = [
      [{ endpoint: 'ftp://x' }, /s3\.endpoint must be an http/],
      [{ endpoint: 'not a url' }, /s3\.endpoint must be an http/],
      [{ region: 'Bad Region' }, /s3\.region must be/],
      [{ credentials: { accessKeyId: 'k' } }, /s3\.credentials must be an object with the strings/],
      [{ forcePathStyle: 'yes' }, /s3\.forcePathStyle must be a boolean/],
      [{ cacheDir: '' }, /s3\.cacheDir must be/],
      [{ cacheBytes: -1 }, /s3\.cacheBytes must be/],
      [{ listPageSize: 1001 }, /s3\.listPageSize must be an integer from 1 to 1000/],
      [{ endpiont: 'http://x' }, /s3 has unknown fields endpiont; its fields are endpoint, region/],
    ];
    for (const [options, message] of cases) {
      const error = optionError(() => resolveS3('s3://bkt', options as never, {}));
      expect(error.code).toBe('LARDER_OPTION');
      expect(error.message).toMatch(message);
    }
  });

  it('a missing @aws-sdk/client-s3 is LARDER_MISSING_DRIVER saying what to install', async () => {
    // The package is installed here; a real resolution failure of another specifier stands in for its absence.
    const missing = () => import('@larder/no-such-package-for-this-test' as string);
    await expect(loadS3Sdk(missing as never)).rejects.toMatchObject({
      code: 'LARDER_MISSING_DRIVER',
      message: expect.stringContaining('npm install @aws-sdk/client-s3'),
    });
    const other = new Error('boom');
    await expect(loadS3Sdk(() => Promise.reject(other))).rejects.toBe(other);
  });

  it('constructing a store loads no driver and touches no network', () => {
    const store = new S3BlobStore('s3://bkt/p', { endpoint: 'http://127.0.0.1:9' });
    expect(store.description).toBe('s3://bkt/p');
  });
});
