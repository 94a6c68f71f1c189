/**
 * Where an S3 store lives and how to reach it: the `s3://bucket/prefix`
 * location, the `s3` options and the AWS_* environment, resolved once, and
 * the local cache's defaults. No SDK type appears here: the package's types
 * must not need the optional @aws-sdk/client-s3 (see s3-driver.ts).
 */
import os from 'node:os';
import path from 'node:path';
import { badOption, codedError } from './errors.js';
import { isSegment } from './keys.js';

/**
 * How to reach S3-compatible storage, and the local read-through cache of an
 * S3 store. Every field is optional: without one, the standard AWS
 * environment and the SDK's own defaults apply.
 *
 * @example
 * ```ts
 * import { openStore, type S3Options } from '@larder/store-fs';
 * const s3: S3Options = {
 *   endpoint: 'http://127.0.0.1:17480',
 *   region: 'us-east-1',
 *   credentials: { accessKeyId: 'KEY', secretAccessKey: 'SECRET' },
 * };
 * const store = openStore('s3://sweeps/larder', { s3 });
 * ```
 */
export interface S3Options {
  /**
   * The S3 endpoint of a self-hosted or other S3-compatible server
   * (radosgw, MinIO, ...). Setting one turns on path-style addressing.
   * @default `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, else AWS's own endpoint for the region
   */
  endpoint?: string;
  /**
   * The region signed into requests.
   * @default `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `'us-east-1'`
   */
  region?: string;
  /**
   * Access keys.
   * @default the SDK's credential chain: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, profiles, instance roles
   */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`.
   * @default true when an endpoint is set (option or environment), else false
   */
  forcePathStyle?: boolean;
  /**
   * The folder of the local read-through cache (mapped loads map files in it;
   * large eager loads are kept there too). Made with mode 0700; it must be a
   * folder of this user, not a symlink.
   * @default `<os.tmpdir()>/larder-s3-cache-<uid>`
   */
  cacheDir?: string;
  /**
   * The size the cache is held to, in bytes: least recently used copies are
   * removed past it (the copy being loaded always stays).
   * @default 2 GiB
   */
  cacheBytes?: number;
  /**
   * Keys asked for per ListObjectsV2 request (list and removePrefix), 1 to 1000.
   * @default 1000
   */
  listPageSize?: number;
}

/** An S3 location and its settings, checked and with every default filled in. */
export interface ResolvedS3 {
  bucket: string;
  /** The key prefix without a trailing '/': '' for the whole bucket. */
  prefix: string;
  endpoint: string | undefined;
  region: string;
  credentials: S3Options['credentials'];
  forcePathStyle: boolean;
  cacheDir: string;
  cacheBytes: number;
  listPageSize: number;
}

const DEFAULTS = { region: 'us-east-1', cacheBytes: 2 * 1024 ** 3, listPageSize: 1000 } as const;
const S3_OPTION_NAMES = new Set(['endpoint', 'region', 'credentials', 'forcePathStyle', 'cacheDir', 'cacheBytes', 'listPageSize']);
const EXPECTED_LOCATION = "'s3://bucket' or 's3://bucket/prefix' (prefix: names of [A-Za-z0-9._-] joined by '/')";

/**
 * S3's bucket naming rules: 3-63 characters of lowercase letters, digits,
 * dots and hyphens, beginning and ending with a letter or digit, no '..', not
 * shaped like an IP address.
 */
export function checkBucket(bucket: string, location: string): void {
  const problem =
    bucket.length < 3 || bucket.length > 63 ? 'must have 3 to 63 characters'
    : !/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket) ? 'may hold only lowercase letters, digits, dots and hyphens, and must begin and end with a letter or digit'
    : bucket.includes('..') ? "must not contain '..'"
    : /^\d+\.\d+\.\d+\.\d+$/.test(bucket) ? 'must not look like an IP address'
    : undefined;
  if (problem !== undefined) throw badOption('location', `${EXPECTED_LOCATION}; the bucket name ${JSON.stringify(bucket)} ${problem}`, location);
}

/** Splits `s3://bucket/prefix` (one trailing '/' allowed) into a checked bucket and prefix. */
export function parseS3Location(location: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/?#]*)(?:\/([^?#]*))?$/i.exec(location);
  if (match === null) throw badOption('location', EXPECTED_LOCATION, location);
  const bucket = match[1]!;
  checkBucket(bucket, location);
  const prefix = (match[2] ?? '').replace(/\/$/, '');
  if (prefix !== '' && !prefix.split('/').every(isSegment)) {
    throw badOption('location', `${EXPECTED_LOCATION}; the prefix ${JSON.stringify(prefix)} has an empty, '.', '..' or other segment`, location);
  }
  return { bucket, prefix };
}

/** The location's settings: options first, then the AWS_* environment, then the defaults. */
export function resolveS3(location: string, options: S3Options | undefined, env: NodeJS.ProcessEnv = process.env): ResolvedS3 {
  const { bucket, prefix } = parseS3Location(location);
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw badOption('s3', 'an object of S3 settings', options);
  const given: S3Options = options ?? {};
  const unknown = Object.keys(given).filter((name) => !S3_OPTION_NAMES.has(name));
  if (unknown.length > 0) {
    throw codedError(TypeError, 'LARDER_OPTION', `s3 has unknown fields ${unknown.join(', ')}; its fields are ${[...S3_OPTION_NAMES].join(', ')}`);
  }
  const endpoint = given.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined);
  if (endpoint !== undefined && (typeof endpoint !== 'string' || !URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol))) {
    throw badOption('s3.endpoint', 'an http:// or https:// URL', endpoint);
  }
  const region = given.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || DEFAULTS.region);
  if (typeof region !== 'string' || !/^[a-z0-9-]+$/.test(region)) throw badOption('s3.region', "a region name such as 'us-east-1'", region);
  const { credentials } = given;
  if (credentials !== undefined && (typeof credentials?.accessKeyId !== 'string' || typeof credentials.secretAccessKey !== 'string')) {
    throw badOption('s3.credentials', 'an object with the strings accessKeyId and secretAccessKey', credentials);
  }
  const forcePathStyle = given.forcePathStyle ?? endpoint !== undefined;
  if (typeof forcePathStyle !== 'boolean') throw badOption('s3.forcePathStyle', 'a boolean', forcePathStyle);
  const cacheDir = given.cacheDir ?? path.join(os.tmpdir(), `larder-s3-cache-${process.getuid?.() ?? 'user'}`);
  if (typeof cacheDir !== 'string' || cacheDir === '' || cacheDir.includes('\0')) throw badOption('s3.cacheDir', 'a non-empty folder path', cacheDir);
  const cacheBytes = given.cacheBytes ?? DEFAULTS.cacheBytes;
  if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0) throw badOption('s3.cacheBytes', 'a non-negative integer number of bytes', cacheBytes);
  const listPageSize = given.listPageSize ?? DEFAULTS.listPageSize;
  if (!Number.isInteger(listPageSize) || listPageSize < 1 || listPageSize > 1000) throw badOption('s3.listPageSize', 'an integer from 1 to 1000', listPageSize);
  return { bucket, prefix, endpoint, region, credentials, forcePathStyle, cacheDir: path.resolve(cacheDir), cacheBytes, listPageSize };
}
