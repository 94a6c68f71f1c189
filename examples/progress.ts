/**
 * progress — joblib's verbose example on a longer job: `verbose` prints
 * joblib's "Done k out of n | elapsed | remaining" lines (on stderr below 50,
 * on stdout from 50, every batch above 10), and `progress: true` draws a bar
 * on a terminal (plain periodic lines elsewhere). A callback gets (done,
 * total) to drive a display of your own.
 */
import { Parallel, delayed } from '@larder/parallel';
import { sized } from './lib/size.js';
import { math } from './tasks/math.js';

const taskCount = sized(40, 10);
const taskMs = sized(50, 10);
const calls = () => Array.from({ length: taskCount }, (_, i) => delayed(math.busy)(i, taskMs));

await using pool = new Parallel({ nJobs: 2 });
console.log(`${taskCount} tasks of ${taskMs} ms of CPU each on ${pool.nJobs} workers\n`);

console.log('verbose: 5 — joblib-paced progress lines (stderr; shown here if your terminal shows stderr):');
await pool.run(calls(), { verbose: 5 });

console.log('\nverbose: 50 — a line for every batch, on stdout:');
await pool.run(calls(), { verbose: 50 });

if (process.stderr.isTTY) {
  console.log('\nprogress: true — a bar on the terminal:');
  await pool.run(calls(), { progress: true });
} else {
  console.log('\nprogress: true draws a bar only on a terminal; here stderr is not one, so it prints plain lines (stderr):');
  await pool.run(calls(), { progress: true });
  console.log('\nprogress: a callback reports to your own code:');
  let reports = 0;
  let lastDone = 0;
  let wentDown = false;
  await pool.run(calls(), {
    progress: (done, total) => {
      reports++;
      wentDown ||= done < lastDone;
      lastDone = done;
      if (done === total || done % 5 === 0) console.log(`  ${done}/${total} tasks done`);
    },
  });
  console.log(`  (the callback was called ${reports} times; done ${wentDown ? 'WENT DOWN' : 'never went down'} and ended at ${lastDone} of ${taskCount})`);
}
