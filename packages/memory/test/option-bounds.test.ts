/**
 * Bad values of public options and constructors are LARDER_OPTION errors naming the option and
 * what it got, never accepted to misbehave later.
 */
import { describe, expect, it } from 'vitest';
import { FileLeaseStore, Memory } from '@larder/memory';
import { tempDir } from './helpers.js';

function optionError(run: () => unknown): Error & { code?: string } {
  try {
    run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('accepted');
}

describe('option bounds', () => {
  it('leaseMs and flushIntervalMs past what a Node timer keeps (2^31-1 ms) are refused: the renewal or flush timer would fire every millisecond', () => {
    for (const leaseMs of [2 ** 31, 1e300, Infinity]) {
      const error = optionError(() => new Memory(tempDir(), { leaseMs }));
      expect(error.code).toBe('LARDER_OPTION');
      expect(error.message).toMatch(/leaseMs must be a positive number of milliseconds up to 2147483647/);
    }
    for (const flushIntervalMs of [2 ** 31, 1e12]) {
      const error = optionError(() => new Memory(tempDir(), { flushIntervalMs }));
      expect(error.code).toBe('LARDER_OPTION');
      expect(error.message).toMatch(/flushIntervalMs must be .* up to 2147483647 .*or Infinity/);
    }
    // The limits themselves, and Infinity for flushes only at close, are fine.
    expect(() => new Memory(tempDir(), { leaseMs: 2 ** 31 - 1, flushIntervalMs: 2 ** 31 - 1 })).not.toThrow();
    expect(() => new Memory(tempDir(), { flushIntervalMs: Infinity })).not.toThrow();
  });
});

describe('FileLeaseStore(root)', () => {
  it('a root that is not a non-empty path is refused: "" put lease files in the current folder, a number made every lease silently unavailable', () => {
    for (const root of ['', '  ', 5, undefined, null, 'a\0b']) {
      const error = optionError(() => new FileLeaseStore(root as string));
      expect(error.code).toBe('LARDER_OPTION');
      expect(error.message).toContain('new FileLeaseStore(root): root must be a non-empty folder path string, got');
    }
    expect(optionError(() => new FileLeaseStore(tempDir(), 'x' as never)).message).toContain('entryPath must be a function');
    expect(new FileLeaseStore(tempDir()).description).toMatch(/^lease files under /);
  });
});

describe('reduceSize(options)', () => {
  it('regression: without any limit it is LARDER_OPTION (it removed nothing without a word)', async () => {
    const memory = new Memory(tempDir());
    await memory.cache(function f(x: number) { return x; }, { name: 'f' })(1);
    for (const options of [undefined, {}, null, { bytesLimit: undefined }]) {
      await expect(memory.reduceSize(options as never)).rejects.toMatchObject({ code: 'LARDER_OPTION', message: expect.stringContaining('reduceSize(options) needs at least one of bytesLimit, itemsLimit, ageLimit') });
    }
    expect(await memory.reduceSize({ itemsLimit: 0 })).toMatchObject({ removed: 1 });
    await memory.close();
  });
});

describe('index and leases URLs', () => {
  it('regression: a parameter nobody reads is LARDER_OPTION (a misspelt namespace gave this machine a namespace of its own, a cache not shared, without a word)', () => {
    const refused = (options: Record<string, string>, message: RegExp) => {
      const error = optionError(() => new Memory(tempDir(), options));
      expect(error.code).toBe('LARDER_OPTION');
      expect(error.message).toMatch(message);
    };
    refused({ index: 'redis://cache-host:6379/0?nmespace=sweeps' }, /index: a Redis URL takes no parameter but namespace, got "nmespace"/);
    refused({ leases: 'redis://cache-host:6379/0?db=1' }, /leases: a Redis URL takes no parameter but namespace, got "db"/);
    refused({ index: 'redis://cache-host/0?namespace=a&namespace=b' }, /namespace is given more than once/);
    refused({ index: 'postgres://larder@db-host:5432/larder?Namespace=sweeps' }, /unknown parameter "Namespace" \(namespace\?\)/);
    refused({ index: 'postgres://larder@db-host:5432/larder?sslmode=require&namespce=sweeps' }, /unknown parameter "namespce"/);
    refused({ index: 'sqlite://' }, /index must be "sqlite:\/\/path" with the path of the SQLite file, got "sqlite:\/\/"/);
    // pg's own parameters, and namespace itself, pass (nothing connects until first use).
    expect(() => new Memory(tempDir(), { index: 'postgres://larder:secret@db-host:5432/larder?sslmode=require&application_name=x&namespace=sweeps' })).not.toThrow();
    expect(() => new Memory(tempDir(), { index: 'redis://cache-host:6379/0?namespace=sweeps' })).not.toThrow();
  });
});
