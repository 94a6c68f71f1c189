/**
 * One filler of bench/scale.ts: calls the trivial cached function on the
 * arguments [from, to) through the public API (Memory, then close), a few
 * calls in flight, printing `filled <count>` to stdout now and then. Several
 * run at once on one location, each on its own range: the fill is also a
 * multi-writer stress of the location and its index.
 *
 *   node --conditions=larder-source --import tsx bench/scale-fill.ts <location> <from> <to>
 */
import { Memory } from '@larder/memory';
import { TRIVIAL_SOURCE } from './scale-function.js';

const IN_FLIGHT = 32;
const REPORT_EVERY = 10_000;

async function fill(location: string, from: number, to: number): Promise<void> {
  const trivial = (0, eval)(`(${TRIVIAL_SOURCE})`) as (x: number) => number;
  const memory = new Memory(location, { flushIntervalMs: 2000 });
  const f = memory.cache(trivial, { name: 'trivial' });
  let reported = 0;
  for (let i = from; i < to; i += IN_FLIGHT) {
    const values = await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, to - i) }, (_, k) => f(i + k)));
    if (values[0] !== i + 1) throw new Error(`trivial(${i}) gave ${values[0]}`);
    // A miss of a small value resolves without a turn of the event loop, so a loop of them alone
    // would starve the bookkeeping's flush timer: the index would hear of every entry at close.
    // An application yields now and then; so does the filler, and its flushes meet the others'.
    await new Promise((resolve) => setImmediate(resolve));
    if (i + IN_FLIGHT - from - reported >= REPORT_EVERY) {
      const done = Math.min(to, i + IN_FLIGHT) - from;
      process.stdout.write(`filled ${done - reported}\n`);
      reported = done;
    }
  }
  await memory.close();
  process.stdout.write(`filled ${to - from - reported}\n`);
}

const [location, from, to] = process.argv.slice(2);
const range = [Number(from), Number(to)];
if (location === undefined || !range.every(Number.isSafeInteger) || range[0]! > range[1]!) {
  console.error('usage: scale-fill.ts <location> <from> <to>');
  process.exitCode = 2;
} else {
  fill(location, range[0]!, range[1]!).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
