import { randomInt } from 'node:crypto';

/**
 * xoshiro128** seeded through SplitMix32: fast, good statistical quality, and the same stream for the
 * same seed on every machine (seeds are 32-bit; larger integers are folded).
 */
export function createRandom(seed?: number): () => number {
  let s = seed === undefined ? randomInt(0, 2 ** 32) : foldSeed(seed);
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result / 4294967296;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function foldSeed(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  const n = Math.trunc(Math.abs(seed));
  return ((n % 2 ** 32) ^ Math.floor(n / 2 ** 32)) >>> 0;
}
