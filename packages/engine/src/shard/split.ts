export interface LayerSplitOptions {
  /**
   * Work only the last shard does (the LM head), in decoder-layer equivalents: the last shard then
   * gets that many fewer layers than its share, so the stages of a pipeline stay balanced.
   */
  lastStageExtra?: number;
}

/**
 * Splits `numLayers` layers into contiguous ranges proportional to `weights` (e.g. each node's
 * free memory), every range at least one layer. Returns boundaries [0, b1, ..., numLayers]:
 * shard i holds layers [boundaries[i], boundaries[i + 1]). The export's memory-weighted split and
 * the mesh's placement of layers on nodes both use this one plan.
 */
export function planLayerSplit(numLayers: number, weights: number[], opts: LayerSplitOptions = {}): number[] {
  const n = weights.length;
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new Error(`invalid layer count ${numLayers}`);
  if (n < 1) throw new Error('at least one shard weight is required');
  if (n > numLayers) throw new Error(`cannot split ${numLayers} layers into ${n} shards`);
  if (weights.some((w) => !Number.isFinite(w) || w <= 0))
    throw new Error('shard weights must be positive numbers');
  const total = weights.reduce((a, b) => a + b, 0);
  const extra = n > 1 ? Math.max(0, opts.lastStageExtra ?? 0) : 0;
  // Real-valued layer counts: shares of the layers plus the last stage's extra work, which the
  // last shard then gives back; the others are rescaled so the counts add up to numLayers again.
  const exact = weights.map((w) => (w / total) * (numLayers + extra));
  const last = n - 1;
  exact[last] = Math.max(1, (exact[last] as number) - extra);
  const others = exact.slice(0, last).reduce((a, b) => a + b, 0);
  for (let i = 0; i < last; i++)
    exact[i] = ((exact[i] as number) / others) * (numLayers - (exact[last] as number));
  // Largest-remainder rounding keeps the sum exact; every shard gets at least one layer.
  const counts = exact.map((x) => Math.max(1, Math.floor(x)));
  let assigned = counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r);
  for (let k = 0; assigned < numLayers; k = (k + 1) % n) {
    const i = (byRemainder[k] as { i: number }).i;
    counts[i] = (counts[i] as number) + 1;
    assigned++;
  }
  while (assigned > numLayers) {
    // Counts raised to one can overshoot: take back from the largest.
    const largest = counts.indexOf(Math.max(...counts));
    counts[largest] = (counts[largest] as number) - 1;
    assigned--;
  }
  const boundaries = [0];
  for (const c of counts) boundaries.push((boundaries[boundaries.length - 1] as number) + c);
  return boundaries;
}

/** An even split: `planLayerSplit` with equal weights. */
export function evenLayerSplit(numLayers: number, shards: number): number[] {
  return planLayerSplit(numLayers, new Array<number>(shards).fill(1));
}

/** Validates explicit boundaries; accepts them with or without the leading 0 / trailing numLayers. */
export function normalizeBoundaries(numLayers: number, boundaries: number[]): number[] {
  const b = [...boundaries];
  if (b[0] !== 0) b.unshift(0);
  if (b[b.length - 1] !== numLayers) b.push(numLayers);
  for (let i = 1; i < b.length; i++) {
    const prev = b[i - 1] as number;
    const cur = b[i] as number;
    if (!Number.isInteger(cur) || cur <= prev || cur > numLayers) {
      throw new Error(`invalid shard boundaries [${boundaries}] for ${numLayers} layers`);
    }
  }
  return b;
}
