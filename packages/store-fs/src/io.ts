/**
 * Positioned reads and writes that loop until done. One read or write call
 * may move less than asked (Linux caps a single call just under 2 GiB), and
 * positioned calls never disturb a shared file position.
 */
import fs from 'node:fs';

/** Bytes per read or write call: below Linux's 2 GiB cap. */
const STEP = 1 << 30;

/** Writes all of `bytes` at `position`, looping over short writes (Linux caps one write near 2 GiB). */
export function writeAllSync(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    done += fs.writeSync(fd, bytes, done, Math.min(bytes.length - done, STEP), position + done);
  }
}

export async function writeAll(handle: fs.promises.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, Math.min(bytes.length - done, STEP), position + done);
    done += bytesWritten;
  }
}

/** Reads exactly `bytes.length` bytes at `position`; a short file is reported by the caller's size checks. */
export function readAllSync(fd: number, bytes: Uint8Array, position: number): number {
  let done = 0;
  while (done < bytes.length) {
    const got = fs.readSync(fd, bytes, done, Math.min(bytes.length - done, STEP), position + done);
    if (got === 0) break;
    done += got;
  }
  return done;
}

export async function readAll(handle: fs.promises.FileHandle, bytes: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesRead } = await handle.read(bytes, done, Math.min(bytes.length - done, STEP), position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}
