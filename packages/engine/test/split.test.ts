import { describe, expect, it } from 'vitest';
import { evenLayerSplit, normalizeBoundaries, planLayerSplit } from '../src/shard/split.js';

describe('planLayerSplit', () => {
  it('splits evenly with equal weights', () => {
    expect(evenLayerSplit(30, 2)).toEqual([0, 15, 30]);
    expect(evenLayerSplit(30, 3)).toEqual([0, 10, 20, 30]);
    expect(evenLayerSplit(7, 1)).toEqual([0, 7]);
  });

  it('splits proportionally to node memory', () => {
    expect(planLayerSplit(30, [8, 4, 4])).toEqual([0, 15, 23, 30]);
    expect(planLayerSplit(30, [1, 2])).toEqual([0, 10, 30]);
  });

  it('gives every shard at least one layer', () => {
    expect(planLayerSplit(4, [100, 1, 1])).toEqual([0, 2, 3, 4]);
    expect(planLayerSplit(3, [1, 1, 100])).toEqual([0, 1, 2, 3]);
  });

  it('gives the last shard fewer layers by the work only it does (the LM head)', () => {
    expect(planLayerSplit(30, [1, 1], { lastStageExtra: 8 })).toEqual([0, 19, 30]);
    // 34 units of work: 17 / 8.5 / 8.5, the last being 4.5 layers and the head.
    expect(planLayerSplit(30, [2, 1, 1], { lastStageExtra: 4 })).toEqual([0, 17, 26, 30]);
    // Never below one layer; a single shard takes everything.
    expect(planLayerSplit(4, [1, 1], { lastStageExtra: 100 })).toEqual([0, 3, 4]);
    expect(planLayerSplit(30, [1], { lastStageExtra: 8 })).toEqual([0, 30]);
  });

  it('rejects impossible or invalid splits', () => {
    expect(() => planLayerSplit(2, [1, 1, 1])).toThrow(/cannot split 2 layers into 3/);
    expect(() => planLayerSplit(10, [1, 0])).toThrow(/positive/);
    expect(() => planLayerSplit(10, [])).toThrow(/at least one/);
  });
});

describe('normalizeBoundaries', () => {
  it('accepts boundaries with or without the ends', () => {
    expect(normalizeBoundaries(30, [0, 15, 30])).toEqual([0, 15, 30]);
    expect(normalizeBoundaries(30, [15])).toEqual([0, 15, 30]);
  });

  it('rejects unordered or out-of-range boundaries', () => {
    expect(() => normalizeBoundaries(30, [0, 20, 10, 30])).toThrow(/invalid shard boundaries/);
    expect(() => normalizeBoundaries(30, [0, 31])).toThrow(/invalid shard boundaries/);
  });
});
