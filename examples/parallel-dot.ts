/**
 * parallel-dot — joblib's "parallel matrix product" teaching example: A·B for
 * two n×n Float64 matrices, rows of A split into blocks over the workers. A
 * and B live on SharedArrayBuffers, so every worker reads the same memory
 * (nothing is copied per worker or per task); only the result blocks travel.
 */
import { Parallel, delayed } from '@larder/parallel';
import { seededRandom } from './lib/random.js';
import { sized } from './lib/size.js';
import { formatMs, timed } from './lib/timing.js';
import { matrix } from './tasks/matrix.js';

const n = sized(1000, 200);

function sharedMatrix(seed: number): Float64Array {
  const random = seededRandom(seed);
  const values = new Float64Array(new SharedArrayBuffer(n * n * Float64Array.BYTES_PER_ELEMENT));
  for (let i = 0; i < values.length; i++) values[i] = random() - 0.5;
  return values;
}

const a = sharedMatrix(1);
const b = sharedMatrix(2);
console.log(`parallel-dot: A·B for two ${n}×${n} Float64 matrices (${(a.byteLength / 1e6).toFixed(1)} MB each, on SharedArrayBuffers)`);

matrix.multiplyRows.fn(a, b, n, 0, 4); // let the JIT compile the kernel here too, as the workers' warm-up does for them
const sequential = await timed(() => matrix.multiplyRows.fn(a, b, n, 0, n));
console.log(`one thread, the same kernel: ${formatMs(sequential.ms)}`);

await using pool = new Parallel({ nJobs: -1 });
await pool.run(Array.from({ length: pool.nJobs }, () => delayed(matrix.warmUp)(100))); // start the workers before timing
const blockCount = 4 * pool.nJobs; // a few blocks per worker, so a slow core does not hold up the end
const bounds = Array.from({ length: blockCount + 1 }, (_, block) => Math.round((block * n) / blockCount));
const calls = bounds.slice(0, -1).map((rowStart, block) => delayed(matrix.multiplyRows)(a, b, n, rowStart, bounds[block + 1]!));
const parallelRun = await timed(() => pool.run(calls));
const product = new Float64Array(n * n);
parallelRun.value.forEach((block, index) => product.set(block, bounds[index]! * n));
console.log(`${pool.nJobs} workers, ${blockCount} row blocks:  ${formatMs(parallelRun.ms)} (speedup ${(sequential.ms / parallelRun.ms).toFixed(2)}× over one thread)`);

// Same kernel, same summation order per element: the results must agree bit for bit.
const identical = product.every((value, index) => Object.is(value, sequential.value[index]));
// And against a plain dot product, computed independently for a few entries.
const spots = [[0, 0], [n - 1, n - 1], [n >> 1, 7], [3, n - 2]] as const;
const spotError = Math.max(...spots.map(([i, j]) => {
  let dot = 0;
  for (let k = 0; k < n; k++) dot += a[i * n + k]! * b[k * n + j]!;
  return Math.abs(dot - product[i * n + j]!);
}));
console.log(`check: parallel result ${identical ? 'equals' : 'DIFFERS FROM'} the one-thread result bit for bit; max error at ${spots.length} spot-checked entries ${spotError.toExponential(1)}`);
console.log('A and B were shared with the workers, not copied: each task received only a view of the same SharedArrayBuffer.');
