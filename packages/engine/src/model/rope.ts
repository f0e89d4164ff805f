import type { RopeScaling } from './types.js';

/**
 * Llama 3.1 RoPE scaling as per-frequency divisors (what llama.cpp's converter stores as `rope_freqs`):
 * high frequencies unchanged, low ones divided by `factor`, a smooth blend between. Rounded to f32 as
 * in the GGUF file, so both sources give identical numbers.
 */
export function llama3RopeFactors(ropeTheta: number, headDim: number, s: RopeScaling): number[] {
  const lowWavelen = s.originalMaxContext / s.lowFreqFactor;
  const highWavelen = s.originalMaxContext / s.highFreqFactor;
  const factors: number[] = [];
  for (let i = 0; i < headDim / 2; i++) {
    const freq = ropeTheta ** (-(2 * i) / headDim);
    const wavelen = (2 * Math.PI) / freq;
    let f = 1;
    if (wavelen > lowWavelen) f = s.factor;
    else if (wavelen >= highWavelen) {
      const smooth =
        (s.originalMaxContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      f = 1 / ((1 - smooth) / s.factor + smooth);
    }
    factors.push(Math.fround(f));
  }
  return factors;
}
