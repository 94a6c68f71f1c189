/**
 * sqrt — joblib's first example, `Parallel(n_jobs=2)(delayed(sqrt)(i ** 2) for i in range(10))`,
 * then the same tiny task a million times: auto batching groups tasks so the
 * per-message cost stays small, but a task this cheap is still better as a loop.
 */
import { Parallel, parallel } from '@larder/parallel';
import { sized } from './lib/size.js';
import { formatMs, timed } from './lib/timing.js';
import { math } from './tasks/math.js';

const squares = Array.from({ length: 10 }, (_, i) => i ** 2);
console.log(`parallel(sqrt, [${squares.join(', ')}])`);
console.log(`  → [${(await parallel(math.sqrt, squares, { nJobs: 2 })).join(', ')}]`);

const count = sized(1_000_000, 100_000);
const many = Float64Array.from({ length: count }, (_, i) => i * i);
const loop = await timed(() => Array.from(many, Math.sqrt));
await using pool = new Parallel({ nJobs: 2 });
await pool.map(math.sqrt, [1, 4]); // start the workers before timing
const spread = await timed(() => pool.map(math.sqrt, many));
const agree = spread.value.every((root, i) => root === loop.value[i]);
console.log(`\nsqrt of ${count.toLocaleString('en')} numbers:`);
console.log(`  plain loop in this thread:           ${formatMs(loop.ms)}`);
console.log(`  pool.map over 2 workers, auto batch: ${formatMs(spread.ms)} (${(spread.ms / loop.ms).toFixed(0)}× the loop; results ${agree ? 'agree' : 'DIFFER'})`);
console.log(`
Auto batching sends thousands of these tasks per message, so ${count.toLocaleString('en')} tasks cost
${formatMs((spread.ms / count) * 1000)} per thousand instead of a round trip each. Still, a square root is
nanoseconds of work and every argument and result must cross to a worker and back:
parallelize tasks that take milliseconds or more; keep tiny ones in a loop, or hand
each worker a whole chunk (see parallel-dot).`);
