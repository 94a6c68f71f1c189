import { Memory } from '@larder/memory';
const memory = new Memory(process.argv[2]!);
const t = performance.now();
console.log(await memory.reconcile(), ((performance.now() - t) / 1000).toFixed(1), 's');
console.log((await memory.stats()).entries);
await memory.close();
