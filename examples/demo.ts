/**
 * The demo (`pnpm demo`): a direct 1-D convolution of a long seeded signal
 * with a bank of kernels, spread over worker threads by @larder/parallel and
 * cached by @larder/memory in `.larder` in the working directory. It runs the
 * job twice — the second run is served from the cache — then shows
 * `larder stats` for the folder. Run the command again and even the first run
 * comes from the cache written by the earlier one.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hash } from '@larder/memory';
import { Parallel, cpuCount, delayed, type ProgressCallback } from '@larder/parallel';
import { kernelBank, noisySignal } from './lib/signals.js';
import { sized } from './lib/size.js';
import { formatMs, timed } from './lib/timing.js';
import { CACHE_FOLDER, convolveKernel, memory } from './tasks/convolve.js';

const signalLength = sized(200_000, 20_000);
const kernels = kernelBank(sized(8, 4), sized(1001, 201));
const signal = noisySignal(signalLength);
const multiplyAdds = kernels.reduce((total, { kernel }) => total + kernel.length * signalLength, 0);

/** A progress bar on a terminal; elsewhere (a pipe, CI) one plain line that fills as tasks finish. */
function progressOption(): true | ProgressCallback {
  if (process.stderr.isTTY) return true;
  process.stdout.write('  progress:');
  return (done, total) => {
    process.stdout.write(` ${done}/${total ?? '?'}`);
    if (done === total) process.stdout.write('\n');
  };
}

/** Runs the `larder` CLI of @larder/memory from its source, as a user would run the installed bin. */
function larderStats(): string {
  const memoryEntry = import.meta.resolve('@larder/memory'); // src/index.ts under the larder-source condition, else dist/index.js
  const cli = fileURLToPath(new URL(`cli${path.extname(memoryEntry)}`, memoryEntry));
  const args = ['--conditions=larder-source', '--import', import.meta.resolve('tsx'), cli, 'stats', CACHE_FOLDER];
  const result = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`larder stats failed (exit ${result.status}): ${result.stderr}`);
  return result.stdout;
}

console.log(`larder demo: direct convolution of a ${signalLength.toLocaleString('en')}-sample signal with ${kernels.length} kernels`);
console.log(`of ${kernels[0]!.kernel.length} taps (${(multiplyAdds / 1e6).toFixed(0)} M multiply-adds), cached in ${path.resolve(CACHE_FOLDER)}`);

const alreadyCached = (await Promise.all(kernels.map(({ kernel }) => convolveKernel.fn.isCached(signal, kernel)))).filter(Boolean).length;

await using pool = new Parallel({ nJobs: -1 });
// The 1.6 MB signal is above maxNbytes ('1M'), so Parallel shares it with the
// workers once per call instead of copying it into every task.
const calls = kernels.map(({ kernel }) => delayed(convolveKernel)(signal, kernel));
const convolveAll = () => pool.run(calls, { progress: progressOption() });

console.log(`\nRun 1: ${pool.nJobs} worker threads (${cpuCount()} CPUs), each checking and filling the cache itself`);
console.log('  (the times below include starting the workers)');
const cpuBefore = process.cpuUsage(); // process-wide: counts the worker threads too
const first = await timed(convolveAll);
const cpuUsed = process.cpuUsage(cpuBefore);
const cpuMs = (cpuUsed.user + cpuUsed.system) / 1000;
const firstChecksum = hash(first.value);
if (alreadyCached === kernels.length) {
  console.log(`  all ${kernels.length} results were served from the cache written by an earlier run, in ${formatMs(first.ms)}`);
  console.log(`  (delete ${CACHE_FOLDER}/ to watch them being computed again)`);
} else {
  console.log(`  computed ${kernels.length - alreadyCached} convolutions${alreadyCached ? ` (${alreadyCached} served from an earlier run's cache)` : ''} in ${formatMs(first.ms)}:`);
  console.log(`  ${formatMs(cpuMs)} of CPU time, ${(cpuMs / first.ms).toFixed(1)} cores busy on average`);
}
console.log(`  checksum of the ${kernels.length} outputs: ${firstChecksum}`);

console.log('\nRun 2: the same call again');
const second = await timed(convolveAll);
const secondChecksum = hash(second.value);
const comparison = alreadyCached === kernels.length ? 'run 1 also read the cache, and started the workers' : `${(first.ms / second.ms).toFixed(0)}× faster than computing`;
console.log(`  served from the cache in ${formatMs(second.ms)} (${comparison})`);
console.log(`  checksum of the ${kernels.length} outputs: ${secondChecksum} (${secondChecksum === firstChecksum ? 'same as run 1' : 'DIFFERS from run 1'})`);

await pool.close();
await memory.close();
console.log(`\n$ larder stats ${CACHE_FOLDER}`);
process.stdout.write(larderStats());
console.log('\nRun `pnpm demo` again: it is served from the cache written by this run.');
