import { describe, expect, it } from 'vitest';
import { createSampler, SamplingParamsError, StopSequenceMatcher } from '../src/sampling/index.js';

const logitsFromProbs = (probs: number[]) => Float32Array.from(probs.map((p) => Math.log(p)));

function histogram(sample: () => number, draws: number, size: number): number[] {
  const counts = new Array(size).fill(0);
  for (let i = 0; i < draws; i++) counts[sample()]++;
  return counts.map((c) => c / draws);
}

describe('createSampler', () => {
  it('is greedy at temperature 0, lowest index on ties', () => {
    const s = createSampler({ temperature: 0 });
    expect(s.sample(Float32Array.from([0.1, 2, -1, 1.9]), [])).toBe(1);
    expect(s.sample(Float32Array.from([3, 1, 3]), [])).toBe(0);
  });

  it('samples from the softmax of the logits at temperature 1', () => {
    const probs = [0.5, 0.25, 0.15, 0.1];
    const s = createSampler({ temperature: 1, seed: 42 });
    const freq = histogram(() => s.sample(logitsFromProbs(probs), []), 20000, 4);
    probs.forEach((p, i) => {
      expect(Math.abs(freq[i]! - p)).toBeLessThan(0.015);
    });
  });

  it('temperature sharpens and flattens the distribution', () => {
    const logits = logitsFromProbs([0.6, 0.4]);
    const coldSampler = createSampler({ temperature: 0.25, seed: 7 });
    const hotSampler = createSampler({ temperature: 4, seed: 7 });
    const c = histogram(() => coldSampler.sample(logits, []), 10000, 2);
    const h = histogram(() => hotSampler.sample(logits, []), 10000, 2);
    // p0 ∝ 0.6^(1/T): T=0.25 → 0.835; T=4 → 0.525.
    expect(c[0]).toBeCloseTo(0.6 ** 4 / (0.6 ** 4 + 0.4 ** 4), 1);
    expect(h[0]).toBeCloseTo(0.6 ** 0.25 / (0.6 ** 0.25 + 0.4 ** 0.25), 1);
  });

  it('top_k keeps only the k most likely tokens', () => {
    const s = createSampler({ top_k: 2, seed: 3 });
    const freq = histogram(() => s.sample(logitsFromProbs([0.1, 0.4, 0.2, 0.3]), []), 5000, 4);
    expect(freq[0]).toBe(0);
    expect(freq[2]).toBe(0);
    expect(freq[1]).toBeCloseTo(0.4 / 0.7, 1);
    expect(freq[3]).toBeCloseTo(0.3 / 0.7, 1);
  });

  it('top_p keeps the smallest set of tokens reaching the mass', () => {
    const s = createSampler({ top_p: 0.75, seed: 5 });
    const freq = histogram(() => s.sample(logitsFromProbs([0.15, 0.5, 0.05, 0.3]), []), 5000, 4);
    expect(freq[0]).toBe(0);
    expect(freq[2]).toBe(0);
    expect(freq[1]).toBeCloseTo(0.5 / 0.8, 1);
  });

  it('is reproducible with a seed and varies across seeds', () => {
    const logits = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 3);
    const run = (seed: number) => {
      const s = createSampler({ temperature: 1, seed });
      return Array.from({ length: 50 }, () => s.sample(logits, []));
    };
    expect(run(1234)).toEqual(run(1234));
    expect(run(1234)).not.toEqual(run(4321));
  });

  it('frequency_penalty subtracts per occurrence, presence_penalty once', () => {
    const logits = Float32Array.from([1, 1.2, 0.9]);
    // Token 1 generated twice: 1.2 - 2 * 0.2 = 0.8 < 1 → token 0 wins.
    expect(createSampler({ temperature: 0, frequency_penalty: 0.2 }).sample(logits, [1, 1])).toBe(0);
    expect(createSampler({ temperature: 0, frequency_penalty: 0.1 }).sample(logits, [1])).toBe(1);
    // Presence: 1.2 - 0.5 = 0.7 and 1 - 0.5 = 0.5 → token 2 (0.9) wins, however often they appeared.
    expect(createSampler({ temperature: 0, presence_penalty: 0.5 }).sample(logits, [1, 1, 1, 0])).toBe(2);
    // Negative penalties encourage repetition.
    expect(createSampler({ temperature: 0, presence_penalty: -1 }).sample(logits, [2])).toBe(2);
    // The caller's logits are left untouched.
    expect(Array.from(logits)).toEqual([1, 1.2000000476837158, 0.8999999761581421]);
  });

  it('rejects out-of-range parameters with the parameter named', () => {
    expect(() => createSampler({ temperature: -1 })).toThrow(SamplingParamsError);
    expect(() => createSampler({ top_p: 0 })).toThrow(/top_p/);
    expect(() => createSampler({ top_k: 1.5 })).toThrow(/top_k/);
    expect(() => createSampler({ frequency_penalty: 3 })).toThrow(/frequency_penalty/);
  });
});

describe('StopSequenceMatcher', () => {
  it('holds back a possible stop prefix and releases it when it is not one', () => {
    const m = new StopSequenceMatcher(['\nUser:', 'END']);
    expect(m.push('Hello')).toEqual({ text: 'Hello', stopped: false });
    expect(m.push(' wor')).toEqual({ text: ' wor', stopped: false });
    expect(m.push('ld\nUs')).toEqual({ text: 'ld', stopped: false });
    expect(m.push('ually')).toEqual({ text: '\nUsually', stopped: false });
    expect(m.push(' E')).toEqual({ text: ' ', stopped: false });
    expect(m.push('N')).toEqual({ text: '', stopped: false });
    expect(m.flush()).toBe('EN');
  });

  it('stops at the earliest stop sequence, even across pushes, and emits the text before it', () => {
    const m = new StopSequenceMatcher(['END', '\nUser:']);
    expect(m.push('The answer\nUs')).toEqual({ text: 'The answer', stopped: false });
    expect(m.push('er: next END')).toEqual({ text: '', stopped: true, stop: '\nUser:' });
    expect(m.stopped).toBe(true);
    expect(m.push('more')).toEqual({ text: '', stopped: true });
    expect(m.flush()).toBe('');
  });

  it('with no stop sequences passes text straight through', () => {
    const m = new StopSequenceMatcher([]);
    expect(m.push('abc')).toEqual({ text: 'abc', stopped: false });
  });
});
