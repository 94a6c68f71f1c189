/**
 * Reading S3's answers: the status of an SDK error (missing key, 304, 412),
 * an object's size from a ranged answer, and a response body into one
 * buffer, checked as a larder header before a large one is allocated.
 */
import { allocate, asFormatError } from './decode-file.js';
import { decodeHeader, HEADER_SIZE } from './header.js';

/**
 * Whether an SDK error says the key holds nothing. S3 answers 404 for a
 * missing bucket too (NoSuchBucket): that is an error to report, not an
 * empty key. (A HEAD has no body to tell them apart: has() on a missing
 * bucket is false.)
 */
export function isMissingKey(error: unknown): boolean {
  return statusOf(error) === 404 && (error as Error).name !== 'NoSuchBucket';
}

/** The HTTP status of an SDK error (404, 304, 412, ...). */
export function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** The object's size from `Content-Range: bytes 0-8388607/83886144` (or the length of a whole-object answer). */
export function totalSize(contentRange: string | undefined, contentLength: number | undefined): number {
  const match = contentRange === undefined ? null : /\/(\d+)$/.exec(contentRange);
  return match ? Number(match[1]) : (contentLength ?? 0);
}

/**
 * Reads a response body of `size` bytes into one fresh buffer. For a whole
 * object (`whole`), the first 64 bytes are checked as a larder header against
 * `size` before the buffer is allocated, so a huge object that is not a
 * larder value costs no allocation. A body shorter or longer than announced
 * is a transfer failure (an Error: the object itself may be fine).
 */
export async function readBody(body: AsyncIterable<Uint8Array> | undefined, size: number, options: { shared: boolean; whole: boolean; url: string }): Promise<Uint8Array> {
  const { shared, whole, url } = options;
  let out: Uint8Array | undefined;
  let head: Uint8Array[] = [];
  let received = 0;
  for await (let chunk of body ?? []) {
    if (out === undefined) {
      head.push(chunk);
      received += chunk.length;
      if (received < Math.min(HEADER_SIZE, size)) continue;
      const joined = Buffer.concat(head);
      head = [];
      if (whole && size >= HEADER_SIZE) {
        try {
          decodeHeader(joined, size);
        } catch (error) {
          throw asFormatError(error, url);
        }
      }
      out = allocate(size, shared);
      received = 0;
      chunk = joined;
    }
    if (received + chunk.length > size) throw new Error(`[larder/store-fs] ${url}: the server sent more than the ${size} bytes it announced`);
    out.set(chunk, received);
    received += chunk.length;
  }
  out ??= allocate(received, shared);
  if (head.length > 0) out.set(Buffer.concat(head));
  if (received !== size) throw new Error(`[larder/store-fs] ${url}: the transfer ended after ${received} of ${size} bytes`);
  return out;
}
