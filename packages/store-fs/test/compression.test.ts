import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { dump, dumpSync, FormatError, load, loadSync } from '@larder/store-fs';
import { hasZstd } from '../src/compression.js';
import { editHeader } from './file-surgery.js';
import { tempDir } from './tmp-dir.js';

const dir = tempDir();
const value = { zeros: new Float64Array(20_000), text: 'abc'.repeat(2000), nested: [new Int32Array(2000).fill(7)] };

describe('compression', () => {
  it.each([
    [true, 'gzip'],
    ['gzip', 'gzip'],
    ['brotli', 'brotli'],
    [{ method: 'brotli', level: 9 }, 'brotli'],
    [{ method: 'gzip', level: 0 }, 'gzip'],
  ] as const)('compress %j writes %s and loads back, eager and shared', async (compress, method) => {
    const file = path.join(dir, `${method}-${JSON.stringify(compress)}.larder`);
    const info = await dump(value, file, { compress });
    expect(info.compression).toBe(method);
    expect(info.bytes).toBe(fs.statSync(file).size);
    if (compress !== 'gzip' && typeof compress === 'object' && compress.level === 0) expect(info.bytes).toBeGreaterThan(info.payloadBytes);
    else expect(info.bytes).toBeLessThan(info.payloadBytes / 20);
    expect(loadSync(file)).toStrictEqual(value);
    const shared = await load<typeof value>(file, { shared: true });
    expect(shared.zeros.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(shared).toStrictEqual(value);
  });

  it('is detected from the header, not from the file name', () => {
    const file = path.join(dir, 'plain-name.json');
    dumpSync(value, file, { compress: 'brotli' });
    expect(fs.readFileSync(file)[10]).toBe(2);
    expect(loadSync(file)).toStrictEqual(value);
  });

  it.runIf(!hasZstd())("'zstd' on a Node without zlib zstd is a LARDER_MISSING_DRIVER error, and nothing is written", async () => {
    const file = path.join(dir, 'zstd.larder');
    const missing = expect.objectContaining({ code: 'LARDER_MISSING_DRIVER', message: expect.stringMatching(/^\[larder\/store-fs\] .*'zstd' needs node:zlib zstd \(Node 22.15 or later\); this is Node/) });
    expect(() => dumpSync(value, file, { compress: 'zstd' })).toThrow(missing);
    await expect(dump(value, file, { compress: 'zstd' })).rejects.toThrow(missing);
    expect(fs.existsSync(file)).toBe(false);
    // A zstd file from a newer Node: the file is fine, the runtime lacks the codec.
    const gz = path.join(dir, 'fake-zstd.larder');
    dumpSync(value, gz, { compress: 'gzip' });
    const bytes = new Uint8Array(fs.readFileSync(gz));
    fs.writeFileSync(gz, editHeader(bytes, { compression: 'zstd' }));
    const unreadable = expect.objectContaining({ code: 'LARDER_MISSING_DRIVER', message: expect.stringContaining('the file is zstd-compressed: loading it needs node:zlib zstd') });
    expect(() => loadSync(gz)).toThrow(unreadable);
    await expect(load(gz)).rejects.toThrow(unreadable);
    await expect(load(gz, { mmap: 'r' })).rejects.toThrow(unreadable);
  });

  it.runIf(hasZstd())("'zstd' round-trips where node:zlib has it", () => {
    const file = path.join(dir, 'zstd.larder');
    expect(dumpSync(value, file, { compress: 'zstd' }).compression).toBe('zstd');
    expect(loadSync(file)).toStrictEqual(value);
  });

  it('a corrupt compressed stream is a FormatError carrying the zlib error as cause', () => {
    const file = path.join(dir, 'broken.larder');
    dumpSync(value, file, { compress: 'gzip' });
    const bytes = fs.readFileSync(file);
    bytes.fill(0x55, 80, 120);
    fs.writeFileSync(file, bytes);
    try {
      loadSync(file);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(FormatError);
      expect((error as FormatError).cause).toBeInstanceOf(Error);
    }
    expect(typeof zlib.gunzipSync).toBe('function');
  });
});
