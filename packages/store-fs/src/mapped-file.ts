/**
 * The open file behind the MappedArrays of one `load(..., { mmap: 'r' })`.
 * They share one descriptor, closed by `close()` or, failing that, when the
 * last of them is garbage-collected. Holding the descriptor (rather than the
 * path) means a later atomic replace of the file does not change what a
 * MappedArray reads: it keeps seeing the file it was opened on.
 */
import fs from 'node:fs';
import { codedError, FormatError } from './errors.js';
import { readAllSync } from './io.js';

interface FileState {
  fd: number;
  closed: boolean;
}

const registry = new FinalizationRegistry<FileState>((state) => {
  if (!state.closed) {
    state.closed = true;
    fs.closeSync(state.fd);
  }
});

export class MappedFile {
  readonly path: string;
  readonly verify: boolean;
  private readonly state: FileState;

  constructor(fd: number, path: string, verify: boolean) {
    this.path = path;
    this.verify = verify;
    this.state = { fd, closed: false };
    registry.register(this, this.state, this.state);
  }

  assertOpen(): void {
    if (this.state.closed) {
      throw codedError(Error, 'LARDER_CLOSED', `a MappedArray of ${this.path} was used after close() (or closeLoaded()); load the file again to read it`);
    }
  }

  /** Reads exactly `into.length` bytes at `position`. */
  read(into: Uint8Array, position: number): void {
    this.assertOpen();
    const got = readAllSync(this.state.fd, into, position);
    if (got !== into.length) throw new FormatError(`the file ended ${into.length - got} bytes early: it shrank after it was opened`, { file: this.path });
  }

  close(): void {
    if (this.state.closed) return;
    this.state.closed = true;
    registry.unregister(this.state);
    fs.closeSync(this.state.fd);
  }
}
