import { Memory } from '@larder/memory';
const trivial = (0, eval)('(function trivial(x) { return x + 1; })');
const locs = process.argv.slice(2).map((a) => { const [location, n] = a.split(':'); return { location: location!, n: Number(n) }; });
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const opened = locs.map(({ location, n }) => { const memory = new Memory(location, { flushIntervalMs: 60_000 }); return { memory, f: memory.cache(trivial, { name: 'trivial' }), args: Array.from({ length: 2000 }, (_, i) => Math.floor(((i % 1000) * 7919) % n)), samples: [] as number[] }; });
for (const { f, args } of opened) for (const a of args) await f(a);
for (let s = 0; s < 9; s++) for (const { f, args, samples } of opened) { const t = performance.now(); for (const a of args) await f(a); samples.push(((performance.now() - t) / args.length) * 1000); }
for (const { memory } of opened) await memory.close();
console.log(opened.map((o, i) => `${locs[i]!.n}: ${med(o.samples).toFixed(1)} µs`).join('  '));
