/**
 * Regression: option names nobody reads were ignored without a word. A
 * misspelt limit made `reduceSize({ byteLimit: 0 })` remove nothing, a
 * misspelt `expireAfter` kept entries forever, and joblib's spellings
 * (`mmap_mode`, `bytes_limit`) did nothing at all.
 */
import { describe, expect, it } from 'vitest';
import { Memory } from '@larder/memory';
import { testMemory } from './helpers.js';

const refused = (message: RegExp) => expect.objectContaining({ code: 'LARDER_OPTION', message: expect.stringMatching(message) });

describe('options: a name no option has is LARDER_OPTION naming it', () => {
  it('new Memory(location, options): a misspelt option, and joblib spellings with the option to use', () => {
    expect(() => new Memory(null, { verbos: 1 } as never)).toThrow(refused(/^\[larder\/memory\] new Memory\(location, options\): unknown option "verbos": the options are verbose, mmap, /));
    expect(() => new Memory(null, { mmap_mode: 'r' } as never)).toThrow(refused(/unknown option "mmap_mode": use mmap: 'r'/));
    expect(() => new Memory(null, { bytes_limit: '1G' } as never)).toThrow(refused(/unknown option "bytes_limit": call memory\.reduceSize\(\{ bytesLimit \}\)/));
    // Every documented option still passes, undefined ones included.
    expect(() => new Memory(null, { verbose: 0, mmap: undefined, index: undefined, dedupe: true, leaseMs: 1000, staleAfter: '1d', flushIntervalMs: 10, s3: undefined, leases: undefined })).not.toThrow();
  });

  it('memory.cache(fn, options): a misspelt option and joblib spellings', () => {
    const { memory } = testMemory();
    const double = (x: number): number => x * 2;
    expect(() => memory.cache(double, { expireAfter: '1h' } as never)).toThrow(refused(/memory\.cache\(fn, options\): unknown option "expireAfter": the options are name, ignore, key, version, mmap, validate, expiresAfter, verbose, dedupe/));
    expect(() => memory.cache(double, { cache_validation_callback: () => true } as never)).toThrow(refused(/use validate/));
    expect(() => memory.cache(double, { mmap_mode: 'r' } as never)).toThrow(refused(/use mmap: 'r'/));
    expect(() => memory.cache(double, { name: 'd', ignore: [], version: 1, mmap: 'r', validate: () => true, expiresAfter: '1h', verbose: 0, dedupe: false, key: (x: number) => x })).not.toThrow();
  });

  it('reduceSize(options): a misspelt limit is refused before anything is removed, and its joblib spelling says which to use', async () => {
    const { memory } = testMemory();
    const double = memory.cache((x: number): number => x * 2, { name: 'double' });
    await double(1);
    await expect(memory.reduceSize({ byteLimit: 0 } as never)).rejects.toThrow(refused(/reduceSize\(options\): unknown option "byteLimit": the options are bytesLimit, itemsLimit, ageLimit/));
    await expect(memory.reduceSize({ items_limit: 0 } as never)).rejects.toThrow(refused(/use itemsLimit/));
    expect(await double.isCached(1)).toBe(true);
    expect((await memory.reduceSize({ itemsLimit: 0 })).removed).toBe(1);
  });

  it('entries(options): a misspelt option', async () => {
    const { memory } = testMemory();
    const listing = async (options: object): Promise<unknown> => {
      for await (const entry of memory.entries(options as never)) void entry;
      return undefined;
    };
    await expect(listing({ fn: 'double' })).rejects.toThrow(refused(/entries\(options\): unknown option "fn": the options are function, stale, order/));
    await expect(listing({ function: 'double', stale: false, order: 'key' })).resolves.toBeUndefined();
  });
});
