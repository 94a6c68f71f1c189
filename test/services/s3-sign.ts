/**
 * AWS Signature Version 4 for S3 requests, with node:crypto only, so the
 * services smoke test needs no SDK. Path-style URLs (what radosgw on
 * 127.0.0.1 serves); the payload hash is the real SHA-256 of the body.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 */
import { createHash, createHmac } from 'node:crypto';
import type { S3Settings } from './settings.js';

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding, as SigV4 wants it: encodeURIComponent leaves !'()* alone. */
const encode = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export interface S3Request {
  method: 'GET' | 'PUT' | 'HEAD' | 'DELETE' | 'POST';
  /** Path below the endpoint, e.g. `/bucket/key`; segments are encoded here. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

/** The URL and headers (with `authorization`) of a signed request. */
export function signS3(settings: S3Settings, request: S3Request, date = new Date()): { url: URL; headers: Record<string, string> } {
  const amzDate = date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const body = request.body ?? new Uint8Array();
  const canonicalPath = request.path.split('/').map(encode).join('/');
  const canonicalQuery = Object.entries(request.query ?? {})
    .map(([key, value]) => [encode(key), encode(value)])
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const headers: Record<string, string> = {
    host: settings.endpoint.host,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': sha256(body),
  };
  for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value.trim();
  const names = Object.keys(headers).sort();
  const canonicalRequest = [request.method, canonicalPath, canonicalQuery, ...names.map((name) => `${name}:${headers[name]}`), '', names.join(';'), headers['x-amz-content-sha256']].join('\n');
  const scope = `${day}/${settings.region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${settings.secretAccessKey}`, day);
  for (const part of [settings.region, 's3', 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${settings.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  const url = new URL(canonicalPath + (canonicalQuery ? `?${canonicalQuery}` : ''), settings.endpoint);
  return { url, headers };
}

/** Sends a signed request with fetch (which sets `host` itself, to the same value). */
export async function s3Fetch(settings: S3Settings, request: S3Request): Promise<Response> {
  const { url, headers } = signS3(settings, request);
  const { host: _host, ...sent } = headers;
  return fetch(url, { method: request.method, headers: sent, body: request.body });
}
