import { hash as hashNew } from './src/hash.js';
import { hash as hashOld } from './src/hash-old.tmp.js';
const big = new Float64Array(10_000_000).map((_, i) => i * 0.5);
const med = (t: number[]) => t.sort((a, b) => a - b)[t.length >> 1]!;
const t: Record<string, number[]> = { old: [], new: [] };
const fns = { old: hashOld, new: hashNew };
for (let r = 0; r < 40; r++) for (const [k, f] of (r % 2 ? Object.entries(fns) : Object.entries(fns).reverse())) { const s = performance.now(); f(big); t[k]!.push(performance.now() - s); }
console.log(['old', 'new'].map((k) => `${k} ${(big.byteLength / 1e9 / (med(t[k]!) / 1000)).toFixed(2)} GB/s (best ${(big.byteLength / 1e9 / (Math.min(...t[k]!) / 1000)).toFixed(2)})`).join('   '));
