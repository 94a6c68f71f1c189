/**
 * Runs a heavy case (a bomb, a huge sparse array) in a child process, so a
 * fatal V8 error or a memory blow-up fails the test instead of the test
 * runner, and so the case's peak memory can be measured on its own.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./fixtures/heavy-case.ts', import.meta.url));

/** What the child reports: the case's result or error, its peak RSS and the longest event-loop stall during it. */
export interface ChildReport {
  result?: unknown;
  error?: { name: string; code?: string; message: string };
  /** Peak resident memory of the whole child process, in bytes. */
  maxRss: number;
  /** Peak resident memory before the case started (node, tsx, the modules), in bytes. */
  baseRss: number;
  /** Wall time of the case. */
  ms: number;
  /** The longest gap between two ticks of a 2 ms interval timer while the case ran. */
  maxGapMs: number;
}

/** Runs `heavy-case.ts <name> <args...>`; rejects if the child dies (a V8 abort, a timeout) instead of reporting. */
export function runCase(name: string, args: readonly string[], timeoutMs = 120_000): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--conditions=larder-source', '--import', 'tsx', script, name, ...args],
      { timeout: timeoutMs, maxBuffer: 16 << 20, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const line = stdout.trim().split('\n').at(-1) ?? '';
        if (error !== null || !line.startsWith('{')) {
          reject(new Error(`case ${name} died: ${error?.message ?? 'no report'}\n${stderr.slice(-2000)}`));
          return;
        }
        resolve(JSON.parse(line) as ChildReport);
      },
    );
  });
}

export const MiB = 1024 * 1024;
