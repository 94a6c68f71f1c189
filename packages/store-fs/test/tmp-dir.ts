import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

/** A fresh folder under os.tmpdir(), removed after the test file. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'larder-store-fs-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
