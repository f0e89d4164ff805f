/**
 * The seed of one sampling step: a 32-bit mix of the request seed and the step index. Seeding each
 * step on its own (rather than one generator for the whole request) lets a replacement node
 * reproduce the remaining draws from nothing but the seed and the number of tokens generated.
 */
export function stepSeed(seed: number, step: number): number {
  let h = (seed ^ Math.imul(step + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
