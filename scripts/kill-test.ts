/**
 * The kill -9 loop at full size (issue 6): a writer process stores values of
 * 0 bytes to 50 MB into one location and is SIGKILLed at random moments;
 * after each kill a fresh process reads every key. Prints the number of
 * corrupt reads (goal 0) and the rest of the tally.
 *
 *   pnpm tsx scripts/kill-test.ts --kills 200 [--max-bytes 52428800] [--seed 1] [--keep]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runKillLoop } from '../test/fixtures/kill-loop.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '200' },
    'max-bytes': { type: 'string', default: String(50 << 20) },
    'max-delay-ms': { type: 'string', default: '1500' },
    seed: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
  },
});
const kills = Number(values.kills);
if (!Number.isInteger(kills) || kills < 1) throw new Error(`--kills must be a positive integer, got ${values.kills}`);
const location = mkdtempSync(join(tmpdir(), 'larder-kill-test-'));
const started = Date.now();
const result = await runKillLoop({
  location,
  kills,
  maxBytes: Number(values['max-bytes']),
  maxDelayMs: Number(values['max-delay-ms']),
  seed: Number(values.seed),
  onKill: (i, inFlight) => {
    if ((i + 1) % 10 === 0) process.stderr.write(`${i + 1}/${kills} kills (last one during: ${inFlight ?? 'no write'})\n`);
  },
});
const seconds = ((Date.now() - started) / 1000).toFixed(0);
console.log(`kills: ${result.kills} (${result.killsDuringWrite} during a write, ${result.killsDuringLargeWrite} during a write of >= 1 MB)`);
console.log(`corrupt reads: ${result.corruptReads}`);
console.log(`wrong values: ${result.wrongValues}`);
console.log(`errors: ${result.errors.length}`);
console.log(`reads through the cache after kills: ${result.hits} hits, ${result.misses} misses; warnings: ${result.warnings.length}`);
console.log(`most leftover temp files seen at once: ${result.maxTempFiles}; time: ${seconds} s; location: ${values.keep ? location : '(removed)'}`);
for (const line of [...result.errors, ...result.details, ...result.warnings].slice(0, 20)) console.log(`  ${line}`);
if (!values.keep) rmSync(location, { recursive: true, force: true });
process.exitCode = result.corruptReads + result.wrongValues + result.errors.length === 0 ? 0 : 1;
