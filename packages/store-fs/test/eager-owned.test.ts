/**
 * An eager load owns its memory: another program rewriting or truncating the
 * file in place afterwards changes nothing in the loaded value (a mapping's
 * unwritten pages would follow the file; see the README, "Eager loads read").
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dumpSync, load, loadSync } from '@larder/store-fs';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
const values = Float64Array.from({ length: 1 << 19 }, (_, i) => i * 0.5); // 4 MiB

describe('an eager load owns its memory', () => {
  for (const [name, read] of [['loadSync', async (file: string) => loadSync<{ x: Float64Array }>(file)], ['load', (file: string) => load<{ x: Float64Array }>(file)]] as const) {
    it(`${name}: rewriting the file in place, then truncating it, leaves the value as loaded`, async () => {
      const file = path.join(dir, `${name}-owned.larder`);
      dumpSync({ x: values }, file);
      const { x } = await read(file);
      const fd = fs.openSync(file, 'r+'); // the same inode, as another program would write it
      try {
        fs.writeSync(fd, new Uint8Array(fs.fstatSync(fd).size - 4096).fill(0xff), 0, undefined, 4096);
        expect(x).toStrictEqual(values);
        fs.ftruncateSync(fd, 0);
        expect(x[x.length - 1]).toBe(values[values.length - 1]);
        expect(x).toStrictEqual(values);
      } finally {
        fs.closeSync(fd);
      }
    });
  }
});
