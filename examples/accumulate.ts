/**
 * accumulate — joblib's "reuse a pool of workers" example: one Parallel kept
 * open across a loop whose next round depends on the last one, so the
 * workers start once, not once per round.
 *
 *   with Parallel(n_jobs=2) as parallel:
 *       while accumulator < 1000:
 *           results = parallel(delayed(sqrt)(accumulator + i ** 2) for i in range(5))
 *           accumulator += sum(results)
 */
import { Parallel } from '@larder/parallel';
import { math } from './tasks/math.js';

await using pool = new Parallel({ nJobs: 2 });
let accumulator = 0;
let rounds = 0;
while (accumulator < 1000) {
  const results = await pool.map(math.sqrt, [0, 1, 2, 3, 4].map((i) => accumulator + i ** 2));
  accumulator += results.reduce((sum, root) => sum + root, 0);
  rounds++;
}
console.log(`accumulator: ${accumulator}`);
console.log(`rounds: ${rounds} (one pool of ${pool.nJobs} workers reused for every round)`);
