import { describe, expect, it } from 'vitest';
import { stepSeed } from '../src/mesh/step-seed.js';

describe('stepSeed', () => {
  it('is deterministic, 32-bit, and distinct across steps and request seeds', () => {
    expect(stepSeed(42, 3)).toBe(stepSeed(42, 3));
    const seen = new Set<number>();
    for (let seed = 0; seed < 50; seed++) {
      for (let step = 0; step < 50; step++) {
        const s = stepSeed(seed, step);
        expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
        seen.add(s);
      }
    }
    expect(seen.size).toBe(2500);
  });
});
