/**
 * nested-loops — joblib's nested Parallel example: an i·j loop parallelized
 * on the outer loop, whose body also uses Parallel. The inner calls run
 * sequentially inside each worker, so 2 workers never become 2 × 2 threads.
 */
import { threadId } from 'node:worker_threads';
import { Parallel, delayed } from '@larder/parallel';
import { sized } from './lib/size.js';
import { nested } from './tasks/nested.js';

const n = sized(100, 10);
await using outer = new Parallel({ nJobs: 2 });
const rows = await outer.run(Array.from({ length: n }, (_, i) => delayed(nested.row)(i, n)));

const total = rows.reduce((sum, row) => sum + row.values.reduce((a, b) => a + b, 0), 0);
const expected = ((n * (n - 1)) / 2) ** 2; // (Σi)·(Σj)
const workerThreads = new Set(rows.map((row) => row.threadId));
const innerNJobs = new Set(rows.map((row) => row.innerNJobs));
console.log(`outer loop: ${n} rows of the ${n}×${n} i·j table over Parallel({ nJobs: ${outer.nJobs} })`);
console.log(`  rows computed in worker threads ${[...workerThreads].sort((a, b) => a - b).join(', ')} (this is thread ${threadId})`);
console.log(`  row 3: ${rows[3]!.values.slice(0, 6).join(', ')}, …`);
console.log(`  sum of all i·j: ${total} (expected ${expected}: ${total === expected ? 'ok' : 'WRONG'})`);
console.log(`inner loop: new Parallel() inside each worker got nJobs = ${[...innerNJobs].join(', ')}, so it ran sequentially in that worker`);
console.log('  (no oversubscription: pass nJobs explicitly to the inner Parallel to override)');
