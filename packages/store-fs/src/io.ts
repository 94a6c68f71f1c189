/**
 * Positioned reads and writes that loop until done. One read or write call
 * may move less than asked (Linux caps a single call just under 2 GiB), and
 * positioned calls never disturb a shared file position.
 */
import fs from 'node:fs';
import { FormatError } from './errors.js';

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

/**
 * How files are opened for reading: never blocking. A FIFO opened plainly waits for a writer
 * forever (a hang, in a loop thread or a libuv thread); with O_NONBLOCK it opens at once and is
 * then refused as not a regular file. On a regular file O_NONBLOCK changes nothing.
 */
const READ_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

/** A FormatError for a FIFO, socket or device; a folder stays the EISDIR a plain read gives (a folder store takes it for "no value there"). */
function notRegular(path: string, stat: fs.Stats | fs.BigIntStats): Error {
  if (stat.isDirectory()) return Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), { code: 'EISDIR', path });
  const kind = stat.isFIFO() ? 'a FIFO' : stat.isSocket() ? 'a socket' : stat.isCharacterDevice() || stat.isBlockDevice() ? 'a device' : 'not a regular file';
  return new FormatError(`not a larder file: it is ${kind}`, { file: path });
}

/** Opens `path` for reading (see READ_FLAGS); a FormatError when it is not a regular file. */
export function openForReadSync(path: string): number {
  const fd = fs.openSync(path, READ_FLAGS);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw notRegular(path, stat);
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  return fd;
}

/** {@link openForReadSync}, async. */
export async function openForRead(path: string): Promise<fs.promises.FileHandle> {
  const handle = await fs.promises.open(path, READ_FLAGS);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notRegular(path, stat);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle;
}
