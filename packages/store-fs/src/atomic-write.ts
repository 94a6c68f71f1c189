/**
 * Atomic file replacement: write a temporary file in the target's folder,
 * then rename it over the target. rename() within one file system is atomic,
 * so a reader (another process, a worker) sees the old complete file or the
 * new complete one, never a partial write; a crash leaves at most a temp
 * file, which BlobStore.list() ignores and sweeps once it is stale.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** Every temporary file ends with this; nothing else store-fs writes does. */
export const TEMP_SUFFIX = '.larder-tmp';

/** `.<name>.<pid>.<random>.larder-tmp` next to the target: same folder, so rename stays atomic. */
function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
}

/** A writer gets the open file and writes at explicit positions. */
export type SyncWriter = (fd: number) => void;
export type AsyncWriter = (handle: fs.promises.FileHandle) => Promise<void>;

export interface WriteAtomicOptions {
  /** fsync the temp file before the rename. */
  fsync: boolean;
  /**
   * Create the target's folder (recursively) if it is missing. Only a missing
   * folder costs the mkdir: the open is tried first and retried once after it,
   * so the common case stays one open, and the caller's bytes (already
   * encoded, maybe compressed) are written once either way.
   */
  makeDirs: boolean;
}

export function writeAtomicSync(target: string, write: SyncWriter, { fsync, makeDirs }: WriteAtomicOptions): void {
  const temp = tempPathFor(target);
  let fd: number;
  try {
    fd = fs.openSync(temp, 'wx');
  } catch (error) {
    if (!makeDirs || !isMissing(error)) throw error;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fd = fs.openSync(temp, 'wx');
  }
  let closed = false;
  try {
    write(fd);
    if (fsync) fs.fsyncSync(fd);
    fs.closeSync(fd);
    closed = true;
    fs.renameSync(temp, target);
  } catch (error) {
    if (!closed) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

export async function writeAtomic(target: string, write: AsyncWriter, { fsync, makeDirs }: WriteAtomicOptions): Promise<void> {
  const temp = tempPathFor(target);
  let handle: fs.promises.FileHandle;
  try {
    handle = await open(temp, 'wx');
  } catch (error) {
    if (!makeDirs || !isMissing(error)) throw error;
    await mkdir(path.dirname(target), { recursive: true });
    handle = await open(temp, 'wx');
  }
  let closed = false;
  try {
    await write(handle);
    if (fsync) await handle.sync();
    await handle.close();
    closed = true;
    await rename(temp, target);
  } catch (error) {
    if (!closed) await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
