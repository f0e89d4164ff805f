/**
 * Splits `numLayers` layers into contiguous ranges proportional to `weights` (e.g. each node's
 * free memory), every range at least one layer. Returns boundaries [0, b1, ..., numLayers]:
 * shard i holds layers [boundaries[i], boundaries[i + 1]).
 */
export function planLayerSplit(numLayers: number, weights: number[]): number[] {
  const n = weights.length;
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new Error(`invalid layer count ${numLayers}`);
  if (n < 1) throw new Error('at least one shard weight is required');
  if (n > numLayers) throw new Error(`cannot split ${numLayers} layers into ${n} shards`);
  if (weights.some((w) => !Number.isFinite(w) || w <= 0))
    throw new Error('shard weights must be positive numbers');
  const total = weights.reduce((a, b) => a + b, 0);
  const boundaries = [0];
  let cumulative = 0;
  for (let i = 0; i < n - 1; i++) {
    cumulative += weights[i] as number;
    const ideal = Math.round((numLayers * cumulative) / total);
    const prev = boundaries[i] as number;
    // Leave at least one layer for this shard and for each shard still to come.
    boundaries.push(Math.min(Math.max(ideal, prev + 1), numLayers - (n - 1 - i)));
  }
  boundaries.push(numLayers);
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
