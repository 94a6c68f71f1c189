/**
 * Real larder-worker processes for the bullmq tests, each in its own
 * temporary working directory and TMPDIR (only the servers in common, as on
 * separate machines), resolving task modules under the repository (--root).
 * Short BullMQ lock and stall intervals, so a killed worker's batch moves on
 * within seconds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(repoRoot, 'packages/parallel/src/larder-worker.ts');
// By path: a worker's working directory is its own temp folder, where `--import tsx` would not resolve.
const tsx = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** What it wrote to stderr so far. */
  log(): string;
  /** SIGTERM (graceful), resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, at once. */
  kill(): Promise<void>;
}

export interface WorkerSettings {
  connection: string;
  queue: string;
  /** The stores its jobs may use (--store); none by default, as larder-worker's own default. */
  stores?: readonly string[];
  concurrency?: number;
  env?: Record<string, string>;
  lockDuration?: number;
  stalledInterval?: number;
}

export async function startWorker(settings: WorkerSettings): Promise<WorkerProcess> {
  const home = mkdtempSync(join(tmpdir(), 'larder-worker-'));
  const args = [
    '--conditions=larder-source', '--import', tsx, bin,
    '--connection', settings.connection, '--queue', settings.queue,
    ...(settings.stores ?? []).flatMap((store) => ['--store', store]),
    '--concurrency', String(settings.concurrency ?? 2), '--root', repoRoot,
    '--lock-duration', String(settings.lockDuration ?? 2_000), '--stalled-interval', String(settings.stalledInterval ?? 1_000),
  ];
  const child = spawn(process.execPath, args, { cwd: home, env: { ...process.env, TMPDIR: home, ...settings.env }, stdio: ['ignore', 'inherit', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => rmSync(home, { recursive: true, force: true }));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`larder-worker did not start within 30 s:\n${stderr}`)), 30_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('serving queue')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => reject(new Error(`larder-worker exited with ${code} before serving:\n${stderr}`)));
  });
  return {
    child,
    pid: child.pid!,
    log: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
