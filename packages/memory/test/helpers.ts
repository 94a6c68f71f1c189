import { FolderStore } from '@larder/store-fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { Memory, type MemoryOptions, type MemoryWarning } from '@larder/memory';

const made: string[] = [];
const memories: Memory[] = [];
afterAll(async () => {
  for (const memory of memories) await memory.close();
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary folder, removed after the file's tests. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'larder-memory-'));
  made.push(dir);
  return dir;
}

/** A Memory in a fresh folder that records its warnings and log lines instead of printing them. */
export function testMemory(options: MemoryOptions = {}, location = tempDir()) {
  const warnings: MemoryWarning[] = [];
  const logs: string[] = [];
  const memory = new Memory(location, { onWarning: (w) => warnings.push(w), log: (m) => logs.push(m), ...options });
  memories.push(memory);
  return { memory, warnings, logs, location };
}

const cliScript = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** Runs the real `larder` command in a child process. */
export function larder(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', cliScript, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Every path under `dir` (symlinks not followed) with its kind, size and content digest: a snapshot to prove nothing changed. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (folder: string, rel: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      const key = rel + entry.name;
      if (entry.isSymbolicLink()) out[key] = `link -> ${readlinkSync(path)}`;
      else if (entry.isDirectory()) { out[`${key}/`] = 'dir'; walk(path, `${key}/`); }
      else out[key] = `file ${createHash('sha256').update(readFileSync(path)).digest('hex')} ${lstatSync(path).mtimeMs}`;
    }
  };
  walk(dir, '');
  return out;
}

/** The file of entry `id` in a folder location (the entry store decides the path: sharded by key). */
export function entryFile(location: string, id: string): string {
  return new FolderStore(join(location, 'results')).pathOf(id);
}
