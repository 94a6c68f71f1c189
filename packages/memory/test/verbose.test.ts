import { describe, expect, it } from 'vitest';
import { callingLines, doneLine, formatArg, formatArgs, loadingLine } from '../src/verbose.js';

describe('verbose formatting', () => {
  it('verbose: the calling lines follow joblib format_call', () => {
    expect(callingLines('f', formatArgs([1, 'a', { b: [1, 2] }]))).toBe(`${'_'.repeat(80)}\n[Memory] Calling f...\nf(1, 'a', {b: [1, 2]})`);
  });

  it('verbose: the done line is padded with underscores to 80 columns', () => {
    const line = doneLine('simulate', 1500);
    expect(line).toHaveLength(80);
    expect(line.endsWith('simulate - 1.5s, 0.0min')).toBe(true);
    expect(line.startsWith('____')).toBe(true);
  });

  it("verbose: the loading line has joblib's shape: time left-aligned in 16 columns, the call, and the file at verbose 10", () => {
    expect(loadingLine('f', "1, 'a'", 300)).toBe("[Memory]0.3s, 0.0min    : Loading f(1, 'a')...");
    expect(loadingLine('f', '1', 300, '/cache/results/f/x.larder')).toBe('[Memory]0.3s, 0.0min    : Loading f(1) from /cache/results/f/x.larder');
  });

  it('verbose: a long string argument keeps its closing quote', () => {
    const text = formatArg('x'.repeat(500));
    expect(text.startsWith("'xxx")).toBe(true);
    expect(text.endsWith("…'")).toBe(true);
    expect(text.length).toBeLessThanOrEqual(80);
  });

  it('verbose: a huge array prints its kind, length and first items only', () => {
    const text = formatArg(new Float64Array(10_000_000));
    expect(text).toBe('Float64Array(10000000) [0, 0, 0, 0, 0, …]');
    expect(formatArg(Array.from({ length: 1e5 }, (_, i) => i))).toBe('[0, 1, 2, 3, 4, … 99995 more]');
    expect(formatArg('x'.repeat(10_000)).length).toBeLessThanOrEqual(80);
  });
});
