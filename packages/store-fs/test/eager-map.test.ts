/**
 * Eager loads of uncompressed files from 1 MiB are copy-on-write mappings of
 * the file where the addon loads: still verified, still the caller's own
 * values (a write never reaches the file), and read as before without it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dumpSync, FormatError, load, loadSync } from '@larder/store-fs';
import { disableAddonForTests } from '../src/native.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
const values = Float64Array.from({ length: 1 << 18 }, (_, i) => i * 0.5); // 2 MiB

afterEach(() => disableAddonForTests(false));

describe('eager loads over a copy-on-write mapping', () => {
  for (const [name, read] of [['loadSync', (file: string) => loadSync<{ x: Float64Array }>(file)], ['load', (file: string) => load<{ x: Float64Array }>(file)]] as const) {
    it(`${name}: equal values; a write changes the caller's copy only, never the file`, async () => {
      const file = path.join(dir, `${name}-write.larder`);
      dumpSync({ x: values }, file);
      const { x } = await read(file);
      expect(x).toStrictEqual(values);
      x[5] = -1;
      expect((await read(file)).x[5]).toBe(2.5);
      expect(loadSync<{ x: Float64Array }>(file).x).toStrictEqual(values);
    });

    it(`${name}: a flipped byte in a large segment is a FormatError; loads with verify: false`, async () => {
      const file = path.join(dir, `${name}-flip.larder`);
      dumpSync({ x: values }, file);
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 100]! ^= 0xff;
      fs.writeFileSync(file, bytes);
      await expect(Promise.resolve().then(() => read(file))).rejects.toThrow(FormatError);
      const { x } = name === 'load' ? await load<{ x: Float64Array }>(file, { verify: false }) : loadSync<{ x: Float64Array }>(file, { verify: false });
      expect(x.length).toBe(values.length);
    });
  }

  it('without the addon the file is read into memory: same values', async () => {
    const file = path.join(dir, 'no-addon.larder');
    dumpSync({ x: values }, file);
    disableAddonForTests(true, false);
    expect(loadSync<{ x: Float64Array }>(file).x).toStrictEqual(values);
    expect((await load<{ x: Float64Array }>(file)).x).toStrictEqual(values);
  });
});
