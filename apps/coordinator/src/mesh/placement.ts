/**
 * Placement: which node serves which layers.
 *
 * `planLayerSplit` is the memory-weighted split (exo / distributed-llama style): contiguous layer
 * ranges proportional to each node's memory, every node getting at least one layer. `findRoute`
 * chains registered stages from layer 0 to the LM head, preferring the least-loaded node for each
 * range and honouring an explicit plan when one is configured.
 */

import { planLayerSplit as splitLayers } from '@cascadia/engine/split';

export interface PlacementNode {
  node_id: string;
  /** bytes the node can give the model (free memory) */
  memory_bytes: number;
}

export interface LayerAssignment {
  node_id: string;
  layer_start: number;
  layer_end: number;
}

/**
 * Memory-weighted contiguous split of `numLayers` layers over `nodes`, in the given order: the
 * engine's `planLayerSplit` (the same plan `cascadia-engine export --memory` writes shards for),
 * with each node's memory as its weight. `lastStageExtra` is work only the last stage does (the LM
 * head), in layer equivalents: the last node then gets that many fewer layers than its share, so
 * stages stay balanced and a pipeline of concurrent sessions is not held back by its last stage.
 */
export function planLayerSplit(
  numLayers: number,
  nodes: PlacementNode[],
  opts: { lastStageExtra?: number } = {},
): LayerAssignment[] {
  if (nodes.length === 0) return [];
  const boundaries = splitLayers(
    numLayers,
    nodes.map((n) => Math.max(n.memory_bytes, 1)),
    opts,
  );
  return nodes.map((n, i) => ({
    node_id: n.node_id,
    layer_start: boundaries[i] as number,
    layer_end: boundaries[i + 1] as number,
  }));
}

/** Multiply-accumulates per token of one decoder layer and of the LM head, from a Llama config. */
export interface LayerCostConfig {
  hiddenSize: number;
  intermediateSize: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
}

/** The LM head's cost in decoder-layer equivalents (about 8 for SmolLM2-135M). */
export function lmHeadLayerEquivalents(c: LayerCostConfig): number {
  const attention = c.hiddenSize * (2 * c.hiddenSize + 2 * c.numKvHeads * c.headDim);
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  return (c.vocabSize * c.hiddenSize) / (attention + mlp);
}

/** Layer boundaries (`[0, …, numLayers]`) of a plan, as the engine's exportShards takes them. */
export function boundariesOf(plan: LayerAssignment[]): number[] {
  return plan.length ? [plan[0]!.layer_start, ...plan.map((p) => p.layer_end)] : [];
}

export interface RoutableStage {
  node_id: string;
  layer_start: number;
  layer_end: number;
  has_embeddings: boolean;
  has_lm_head: boolean;
  /** sessions currently routed through the node */
  load: number;
}

/**
 * A chain of stages covering every layer, first stage with embeddings, last with the LM head.
 * `preferred` (an explicit plan, in order) is used when all its nodes are available.
 */
export function findRoute<T extends RoutableStage>(
  stages: T[],
  opts: { exclude?: Set<string>; preferred?: string[] } = {},
): T[] | null {
  const usable = stages.filter((s) => !opts.exclude?.has(s.node_id));
  if (opts.preferred?.length) {
    const byId = new Map(usable.map((s) => [s.node_id, s]));
    const chain = opts.preferred.map((id) => byId.get(id));
    if (chain.every((s): s is T => s !== undefined) && isCompleteChain(chain)) return chain;
  }
  const startingAt = new Map<number, T[]>();
  for (const s of usable) {
    const list = startingAt.get(s.layer_start) ?? [];
    list.push(s);
    startingAt.set(s.layer_start, list);
  }
  for (const list of startingAt.values())
    list.sort((a, b) => a.load - b.load || a.node_id.localeCompare(b.node_id));
  const walk = (layer: number, chain: T[], depth: number): T[] | null => {
    if (depth > 64) return null;
    for (const s of startingAt.get(layer) ?? []) {
      if (s.layer_end <= layer) continue;
      if (layer === 0 && !s.has_embeddings) continue;
      const next = [...chain, s];
      if (s.has_lm_head) return next;
      const found = walk(s.layer_end, next, depth + 1);
      if (found) return found;
    }
    return null;
  };
  return walk(0, [], 0);
}

function isCompleteChain(chain: RoutableStage[]): boolean {
  if (!chain.length || chain[0]!.layer_start !== 0 || !chain[0]!.has_embeddings) return false;
  for (let i = 1; i < chain.length; i++) if (chain[i]!.layer_start !== chain[i - 1]!.layer_end) return false;
  return chain[chain.length - 1]!.has_lm_head;
}
