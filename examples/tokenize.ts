/**
 * tokenize — joblib's "tasks that wait" example: texts tokenized by a
 * function that sleeps 10 ms each. Waiting uses no CPU, so 4 workers finish
 * close to 4× sooner even on a 2-core machine; the 'async' backend (joblib's
 * threading backend) does the same in this thread for an async function.
 */
import { Parallel } from '@larder/parallel';
import { sized } from './lib/size.js';
import { formatMs, timed } from './lib/timing.js';
import { text } from './tasks/text.js';

const count = sized(100, 20);
const texts = Array.from({ length: count }, (_, i) => `Text number ${i}: the quick brown fox jumps over the lazy dog ${i % 7} times.`);

const sequential = await timed(() => texts.map(text.tokenize.fn));
console.log(`${count} texts, 10 ms of waiting each`);
console.log(`  sequentially in this thread:     ${formatMs(sequential.ms)}`);

await using threads = new Parallel({ nJobs: 4 });
await threads.map(text.tokenize, texts.slice(0, 4), { batchSize: 1 }); // start the 4 workers before timing
const threaded = await timed(() => threads.map(text.tokenize, texts));
console.log(`  4 worker threads:                ${formatMs(threaded.ms)} (${(sequential.ms / threaded.ms).toFixed(1)}× faster)`);

await using inThisThread = new Parallel({ nJobs: 4, backend: 'async' });
const concurrent = await timed(() => inThisThread.map(text.tokenizeAsync, texts));
console.log(`  'async' backend, 4 at a time:    ${formatMs(concurrent.ms)} (${(sequential.ms / concurrent.ms).toFixed(1)}× faster)`);

const same = [threaded.value, concurrent.value].every((result) => JSON.stringify(result) === JSON.stringify(sequential.value));
console.log(`  tokens of text 0: ${sequential.value[0]!.join(' ')}`);
console.log(`  all three runs give the same tokens: ${same ? 'yes' : 'NO'}`);
console.log('Tasks that wait (disk, network, a sleep) gain from more workers than cores; CPU-bound ones do not.');
