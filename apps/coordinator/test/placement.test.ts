import { describe, expect, it } from 'vitest';
import { boundariesOf, findRoute, lmHeadLayerEquivalents, planLayerSplit } from '../src/mesh/placement.js';

describe('planLayerSplit', () => {
  it('splits layers in proportion to memory, contiguously, at least one layer each', () => {
    const plan = planLayerSplit(30, [
      { node_id: 'a', memory_bytes: 8e9 },
      { node_id: 'b', memory_bytes: 16e9 },
      { node_id: 'c', memory_bytes: 6e9 },
    ]);
    expect(plan).toEqual([
      { node_id: 'a', layer_start: 0, layer_end: 8 },
      { node_id: 'b', layer_start: 8, layer_end: 24 },
      { node_id: 'c', layer_start: 24, layer_end: 30 },
    ]);
    expect(boundariesOf(plan)).toEqual([0, 8, 24, 30]);
    const tiny = planLayerSplit(3, [
      { node_id: 'a', memory_bytes: 1 },
      { node_id: 'b', memory_bytes: 1e12 },
      { node_id: 'c', memory_bytes: 1 },
    ]);
    expect(tiny.map((p) => p.layer_end - p.layer_start)).toEqual([1, 1, 1]);
    expect(() =>
      planLayerSplit(2, [
        { node_id: 'a', memory_bytes: 1 },
        { node_id: 'b', memory_bytes: 1 },
        { node_id: 'c', memory_bytes: 1 },
      ]),
    ).toThrow();
  });
});

describe('balancing the LM head', () => {
  it('gives the last stage fewer layers by the head cost in layer equivalents', () => {
    const smollm2 = { hiddenSize: 576, intermediateSize: 1536, numKvHeads: 3, headDim: 64, vocabSize: 49152 };
    const head = lmHeadLayerEquivalents(smollm2);
    expect(head).toBeGreaterThan(7.9);
    expect(head).toBeLessThan(8.1);
    const equal = [
      { node_id: 'a', memory_bytes: 1 },
      { node_id: 'b', memory_bytes: 1 },
    ];
    expect(boundariesOf(planLayerSplit(30, equal, { lastStageExtra: head }))).toEqual([0, 19, 30]);
    expect(boundariesOf(planLayerSplit(30, equal))).toEqual([0, 15, 30]);
    // Never below one layer, and a single node takes everything.
    expect(boundariesOf(planLayerSplit(4, equal, { lastStageExtra: 100 }))).toEqual([0, 3, 4]);
    expect(boundariesOf(planLayerSplit(30, [equal[0]!], { lastStageExtra: head }))).toEqual([0, 30]);
  });
});

describe('findRoute', () => {
  const stage = (node_id: string, layer_start: number, layer_end: number, load = 0) => ({
    node_id,
    layer_start,
    layer_end,
    has_embeddings: layer_start === 0,
    has_lm_head: layer_end === 30,
    load,
  });

  it('chains stages from layer 0 to the LM head, least loaded first, and skips excluded nodes', () => {
    const stages = [stage('a', 0, 15, 3), stage('a2', 0, 15, 1), stage('b', 15, 30), stage('c', 0, 10)];
    expect(findRoute(stages)?.map((s) => s.node_id)).toEqual(['a2', 'b']);
    expect(findRoute(stages, { exclude: new Set(['a2']) })?.map((s) => s.node_id)).toEqual(['a', 'b']);
    expect(findRoute(stages, { exclude: new Set(['b']) })).toBeNull();
  });

  it('follows an explicit plan when all its nodes are usable', () => {
    const stages = [stage('a', 0, 15), stage('a2', 0, 15), stage('b', 15, 30)];
    expect(findRoute(stages, { preferred: ['a2', 'b'] })?.map((s) => s.node_id)).toEqual(['a2', 'b']);
    expect(
      findRoute(stages, { preferred: ['a2', 'b'], exclude: new Set(['a2']) })?.map((s) => s.node_id),
    ).toEqual(['a', 'b']);
  });
});
