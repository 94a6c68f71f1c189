import { Memory } from '@larder/memory';
const loc = process.argv[2]!; const n = Number(process.argv[3]);
const memory = new Memory(loc);
const t = performance.now();
const r = await memory.reduceSize({ itemsLimit: Number(process.argv[4] ?? Math.ceil(n * 0.9)) });
console.log('reduce', r, (performance.now() - t).toFixed(0), 'ms');
console.log("agg", (globalThis as any).T_agg, "files", (globalThis as any).T_files, "idx", (globalThis as any).T_idx, "page", (globalThis as any).T_page);
await memory.close();
