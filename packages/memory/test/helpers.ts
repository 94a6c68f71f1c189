import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
