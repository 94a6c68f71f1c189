/** Task module of tokenize: a tokenizer that waits 10 ms per text, like joblib's example's time.sleep. */
import { setTimeout as sleep } from 'node:timers/promises';
import { tasks } from '@larder/parallel/tasks';

const WAIT_MS = 10;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function splitWords(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9']+/g) ?? [];
}

/** Blocks its thread for 10 ms (Atomics.wait, as time.sleep blocks), then splits the text into words. */
function tokenize(text: string): string[] {
  Atomics.wait(sleeper, 0, 0, WAIT_MS);
  return splitWords(text);
}

/** The same, waiting without blocking: for the 'async' backend, many calls share one thread. */
async function tokenizeAsync(text: string): Promise<string[]> {
  await sleep(WAIT_MS);
  return splitWords(text);
}

export const text = tasks(import.meta.url, { tokenize, tokenizeAsync });
