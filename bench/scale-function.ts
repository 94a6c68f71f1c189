/** The cached function of bench/scale.ts, as source: the same text in the bench, its fillers and its first-call child, so all share one cache folder and body. */
export const TRIVIAL_SOURCE = 'function trivial(x) { return x + 1; }';
