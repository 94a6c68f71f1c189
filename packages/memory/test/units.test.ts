import { describe, expect, it } from 'vitest';
import { parseDuration, parseSize } from '@larder/memory';

describe('units', () => {
  it('parseDuration: numbers are ms, strings take ms/s/m/h/d/w', () => {
    expect(parseDuration(250, 'x')).toBe(250);
    expect(parseDuration('500ms', 'x')).toBe(500);
    expect(parseDuration('30s', 'x')).toBe(30_000);
    expect(parseDuration('30m', 'x')).toBe(1_800_000);
    expect(parseDuration('1.5h', 'x')).toBe(5_400_000);
    expect(parseDuration('7d', 'x')).toBe(604_800_000);
    expect(parseDuration('1w', 'x')).toBe(604_800_000);
  });

  it('parseDuration: a bad value names the option and what it got', () => {
    expect(() => parseDuration('soon', 'expiresAfter')).toThrow('[larder/memory] expiresAfter must be a non-negative number of milliseconds or a string like "30m", "2h", "7d", got "soon"');
    expect(() => parseDuration(-1, 'ageLimit')).toThrow(/ageLimit must be .* got -1/);
  });

  it('parseSize: base 1024, K/M/G/T with optional B or iB', () => {
    expect(parseSize(123, 'x')).toBe(123);
    expect(parseSize('100K', 'x')).toBe(102_400);
    expect(parseSize('500M', 'x')).toBe(500 * 1024 ** 2);
    expect(parseSize('10G', 'x')).toBe(10 * 1024 ** 3);
    expect(parseSize('1.5kb', 'x')).toBe(1536);
    expect(parseSize('2TiB', 'x')).toBe(2 * 1024 ** 4);
  });

  it('parseSize: a bad value names the option and what it got', () => {
    expect(() => parseSize('lots', 'bytesLimit')).toThrow(/bytesLimit must be a non-negative number of bytes or a string like "500M", "10G", got "lots"/);
    expect(() => parseSize(NaN, 'bytesLimit')).toThrow(/got NaN/);
  });

  it('regression: without an option name the error says size or duration, not "undefined must be"; a string of 400 digits (Infinity) is refused like Infinity', () => {
    const call = (fn: (...args: unknown[]) => unknown, ...args: unknown[]) => () => fn(...args);
    expect(call(parseSize as never, '12 MBB')).toThrow(/^\[larder\/memory\] size must be a non-negative number of bytes/);
    expect(call(parseDuration as never, 'soon')).toThrow(/^\[larder\/memory\] duration must be a non-negative number of milliseconds/);
    expect(() => parseSize('9'.repeat(400), 'bytesLimit')).toThrow(/bytesLimit must be/);
    expect(() => parseDuration(`${'9'.repeat(400)}d`, 'expiresAfter')).toThrow(/expiresAfter must be/);
  });
});
