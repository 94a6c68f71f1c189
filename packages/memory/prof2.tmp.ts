import { Memory } from '@larder/memory';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const dir = mkdtempSync(join(tmpdir(), 'smoke-'));
const memory = new Memory(dir);
const f = memory.cache(function f(a: number, b: number, s: string, o: object) { return { a, b, s, o }; });
await f(1, 2.5, 'abc', { a: 1, b: [1, 2, 3] });
for (let r = 0; r < 3; r++) {
const N = 50000;
let s = performance.now();
for (let i = 0; i < N; i++) await f(1, 2.5, 'abc', { a: 1, b: [1, 2, 3] });
console.log('hit us', (performance.now() - s) / N * 1000);
}
await memory.close();
