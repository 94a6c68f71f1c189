/**
 * Every example and the demo, run as a user runs them (a real Node process
 * with tsx and the larder-source condition) at the small size, with their key
 * output asserted, so none of them rots. One at a time: each starts workers.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const examples = fileURLToPath(new URL('../examples/', import.meta.url));
// Resolved from here, so a child running in a temporary folder still finds tsx.
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const TIMEOUT_MS = 60_000;

/** Runs examples/<name>.ts at the small size; resolves with its output, rejects on a non-zero exit. */
async function runExample(name: string, cwd = examples): Promise<{ stdout: string; stderr: string }> {
  const args = ['--conditions=larder-source', '--import', tsxLoader, path.join(examples, `${name}.ts`)];
  const env = { ...process.env, LARDER_EXAMPLE_SIZE: 'small' };
  return promisify(execFile)(process.execPath, args, { cwd, env, timeout: TIMEOUT_MS, encoding: 'utf8' });
}

describe('examples at the small size', () => {
  it('parallel-dot: the block-parallel product equals the one-thread product', async () => {
    const { stdout } = await runExample('parallel-dot');
    expect(stdout).toContain('A·B for two 200×200 Float64 matrices');
    expect(stdout).toMatch(/speedup \d+\.\d+× over one thread/);
    expect(stdout).toContain('parallel result equals the one-thread result bit for bit');
    expect(stdout).toMatch(/max error at 4 spot-checked entries 0\.0e\+0/);
  }, TIMEOUT_MS);

  it('sqrt: ten square roots, then 100 000 with both times printed', async () => {
    const { stdout } = await runExample('sqrt');
    expect(stdout).toContain('→ [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]');
    expect(stdout).toMatch(/plain loop in this thread: +[\d.]+ m?s/);
    expect(stdout).toMatch(/pool\.map over 2 workers, auto batch: +[\d.]+ m?s \(\d+× the loop; results agree\)/);
    expect(stdout).toContain('keep tiny ones in a loop');
  }, TIMEOUT_MS);

  it('accumulate: one reused pool reaches 1136.596… in 14 rounds', async () => {
    const { stdout } = await runExample('accumulate');
    expect(stdout).toMatch(/accumulator: 1136\.596\d*/);
    expect(stdout).toMatch(/rounds: 14 \(one pool of 2 workers/);
  }, TIMEOUT_MS);

  it('memmap: the mapped Float64Array has 8 000 000 bytes and 1 000 000 elements equal to the original, copy-on-write; workers share the loaded array', async () => {
    const { stdout } = await runExample('memmap');
    expect(stdout).toContain('[object Float64Array]');
    expect(stdout).toContain('byteLength 8000000 bytes, length 1000000 elements');
    expect(stdout).toContain('equal to the original');
    expect(stdout).toContain('the file still holds 1');
    expect(stdout).toContain('a Float64Array on a SharedArrayBuffer');
    expect(stdout).toContain('500000 + 500000 = 1000000');
    expect(stdout).toContain('the same SharedArrayBuffer (no copy)');
  }, TIMEOUT_MS);

  it('tokenize: waiting tasks on 4 workers and on the async backend give the sequential tokens', async () => {
    const { stdout } = await runExample('tokenize');
    expect(stdout).toContain('20 texts, 10 ms of waiting each');
    expect(stdout).toMatch(/4 worker threads: +[\d.]+ m?s \([\d.]+× faster\)/);
    expect(stdout).toMatch(/'async' backend, 4 at a time: +[\d.]+ m?s/);
    expect(stdout).toContain('tokens of text 0: text number 0 the quick brown fox');
    expect(stdout).toContain('all three runs give the same tokens: yes');
  }, TIMEOUT_MS);

  it('nested-loops: the outer loop runs on workers, the inner parallel() runs sequentially inside them', async () => {
    const { stdout } = await runExample('nested-loops');
    expect(stdout).toContain('sum of all i·j: 2025 (expected 2025: ok)');
    expect(stdout).toMatch(/rows computed in worker threads [\d, ]+ \(this is thread 0\)/);
    expect(stdout).toContain('got nJobs = 1, so it ran sequentially in that worker');
  }, TIMEOUT_MS);

  it('cached-pipeline: only affected steps rerun', async () => {
    const { stdout } = await runExample('cached-pipeline');
    expect(stdout).toMatch(/1\. seed 1, window 100 +computed: simulate \+ summarize /);
    expect(stdout).toMatch(/2\. the same again +computed: nothing \(both steps from the cache\)/);
    expect(stdout).toMatch(/3\. window 500 \(summary changed\) +computed: summarize /);
    expect(stdout).toMatch(/4\. seed 2 \(simulation changed\) +computed: simulate \+ summarize /);
    expect(stdout).toContain('Only affected steps rerun');
    expect(stdout).toContain('cache: 5 entries, 3 hits, 5 misses');
  }, TIMEOUT_MS);

  it('progress: verbose lines on stderr and stdout, and the callback when no terminal', async () => {
    const { stdout, stderr } = await runExample('progress');
    expect(stderr).toContain('[Parallel(nJobs=2)]: Done 10 out of 10 | elapsed:');
    expect(stdout).toContain('[Parallel(nJobs=2)]: Using backend threads with 2 concurrent workers.');
    expect(stdout).toMatch(/\[Parallel\(nJobs=2\)\]: Done 10 out of 10 \| elapsed: [\d.]+s finished/);
    expect(stderr).toMatch(/^\[larder\/parallel\] Done 10 out of 10 \| elapsed: [\d.]+(s|min) finished$/m);
    expect(stdout).toContain('10/10 tasks done');
    expect(stdout).toContain('never went down and ended at 10 of 10');
  }, TIMEOUT_MS);
});

describe('the demo, in a fresh working directory', () => {
  let workDir: string;
  beforeAll(async () => {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'larder-demo-'));
  });
  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it('demo: computes on the workers, serves run 2 from the cache, and prints larder stats; a rerun is served from that cache', async () => {
    const first = (await runExample('demo', workDir)).stdout;
    expect(first).toContain(`cached in ${path.join(workDir, '.larder')}`);
    expect(first).toContain('computed 4 convolutions in');
    expect(first).toContain('progress: 1/4 2/4 3/4 4/4');
    expect(first).toMatch(/Run 2: the same call again\n.*\n {2}served from the cache in/);
    const checksums = [...first.matchAll(/checksum of the 4 outputs: ([0-9a-f]{16})/g)].map((match) => match[1]);
    expect(checksums).toHaveLength(2);
    expect(checksums[1]).toBe(checksums[0]);
    expect(first).toContain('$ larder stats .larder');
    expect(first).toMatch(/entries +4 \(/);
    expect(first).toMatch(/^convolveKernel +4 /m);
    // The hits and misses counted inside the workers reach the index (run 2 hit all 4).
    expect(first).toMatch(/hits \/ misses +4 \/ 4\n/);

    const rerun = (await runExample('demo', workDir)).stdout;
    expect(rerun).toContain('all 4 results were served from the cache written by an earlier run');
    expect(rerun).toContain(`checksum of the 4 outputs: ${checksums[0]}`);
    expect(rerun).toMatch(/entries +4 \(/);
    expect(rerun).toMatch(/hits \/ misses +12 \/ 4\n/);
  }, 2 * TIMEOUT_MS);
});
