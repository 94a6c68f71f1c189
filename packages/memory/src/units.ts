/**
 * Durations ('30m', '2h', '7d') and sizes ('500M', '10G', base 1024), parsed
 * once at the option boundary so the rest of the code only sees numbers.
 */
import { badOption } from './errors.js';

const DURATION_MS: Record<string, number> = {
  ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000,
};

const SIZE_BYTES: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4,
};

/**
 * Parses a duration: a number of milliseconds, or a string like `'500ms'`,
 * `'30s'`, `'30m'`, `'2h'`, `'7d'`, `'1w'` (decimals allowed: `'1.5h'`).
 * `option` names the option in the error a bad value throws (default `'duration'`).
 *
 * @example
 * ```ts
 * import { parseDuration } from '@larder/memory';
 * parseDuration('30m', 'expiresAfter'); // 1_800_000
 * ```
 */
export function parseDuration(value: number | string, option = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
    return badOption(option, 'a non-negative number of milliseconds or a string like "30m", "2h", "7d"', value);
  }
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)\s*$/i.exec(value) : null;
  const unit = match ? DURATION_MS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    return badOption(option, 'a non-negative number of milliseconds or a string like "30m", "2h", "7d"', value);
  }
  const ms = Number(match[1]) * unit;
  // 400 digits are Infinity: refused as the number Infinity is.
  if (!Number.isFinite(ms)) return badOption(option, 'a non-negative number of milliseconds or a string like "30m", "2h", "7d"', value);
  return ms;
}

/**
 * Parses a size: a number of bytes, or a string like `'100K'`, `'500M'`,
 * `'10G'`, `'1T'` (base 1024: `'100K'` is 102400; `KB`, `KiB` and a bare
 * number of bytes are accepted too).
 *
 * @example
 * ```ts
 * import { parseSize } from '@larder/memory';
 * parseSize('10G', 'bytesLimit'); // 10737418240
 * ```
 */
export function parseSize(value: number | string, option = 'size'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return Math.floor(value);
    return badOption(option, 'a non-negative number of bytes or a string like "500M", "10G"', value);
  }
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value) : null;
  const unit = match ? SIZE_BYTES[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    return badOption(option, 'a non-negative number of bytes or a string like "500M", "10G"', value);
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isFinite(bytes)) return badOption(option, 'a non-negative number of bytes or a string like "500M", "10G"', value);
  return bytes;
}

/** Formats bytes for people: `1.5 GiB`, `20.0 KiB`, `512 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) value /= 1024, unit++;
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Formats a duration for people: `850 ms`, `12.3 s`, `4.0 min`, `2.5 h`, `3.0 d`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}
