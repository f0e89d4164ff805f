/**
 * A small deterministic stand-in for the engine's ShardRunner (a neighbour mock for protocol
 * tests): each "layer" mixes a position's hidden state with the mean of that layer's earlier
 * inputs (a KV cache in miniature), so outputs depend on the whole prefix and on session state,
 * and splitting the layers across runners gives exactly the output of one runner with all of them.
 */
import type { StageInput, StageManifest, StageOutput, StageRunner } from '../../src/mesh/types.js';

export const ARITH_VOCAB = 50;
export const ARITH_HIDDEN = 8;

export function arithRunner(
  layerStart: number,
  layerEnd: number,
  numLayers: number,
  modelId = 'arith',
): StageRunner {
  const sessions = new Map<string, Float32Array[][]>();
  const manifest: StageManifest = {
    modelId,
    shardIndex: layerStart,
    shardCount: numLayers,
    layerStart,
    layerEnd,
    hasEmbeddings: layerStart === 0,
    hasLmHead: layerEnd === numLayers,
    hiddenSize: ARITH_HIDDEN,
    vocabSize: ARITH_VOCAB,
    maxContext: 4096,
    digest: `${layerStart.toString(16).padStart(2, '0')}${layerEnd.toString(16).padStart(2, '0')}`.padEnd(
      64,
      'a',
    ),
  };
  const embed = (token: number) =>
    Float32Array.from({ length: ARITH_HIDDEN }, (_, j) => Math.sin((token + 1) * (j + 1)));
  return {
    manifest,
    engine: 'onnxruntime',
    device: 'test',
    async forward(
      sessionId: string,
      input: StageInput,
      opts: { position: number; length: number },
    ): Promise<StageOutput> {
      let layers = sessions.get(sessionId);
      if (!layers) {
        layers = Array.from({ length: layerEnd - layerStart }, () => []);
        sessions.set(sessionId, layers);
      }
      const cached = layers[0]!.length;
      if (opts.position > cached) throw new Error(`position ${opts.position} past cached ${cached}`);
      for (const l of layers) l.length = opts.position;
      const out = new Float32Array(opts.length * ARITH_HIDDEN);
      for (let p = 0; p < opts.length; p++) {
        let h =
          'tokens' in input
            ? embed(input.tokens[p]!)
            : input.hidden.slice(p * ARITH_HIDDEN, (p + 1) * ARITH_HIDDEN);
        layers.forEach((history, i) => {
          history.push(h);
          const next = new Float32Array(ARITH_HIDDEN);
          for (let j = 0; j < ARITH_HIDDEN; j++) {
            let mean = 0;
            for (const past of history) mean += past[j]!;
            mean /= history.length;
            next[j] = Math.tanh(h[j]! + 0.7 * mean + 0.05 * (layerStart + i));
          }
          h = next;
        });
        out.set(h, p * ARITH_HIDDEN);
      }
      await new Promise((r) => setImmediate(r));
      if (!manifest.hasLmHead) return { hidden: out };
      const last = out.subarray((opts.length - 1) * ARITH_HIDDEN);
      const logits = Float32Array.from({ length: ARITH_VOCAB }, (_, v) => {
        let s = 0;
        for (let j = 0; j < ARITH_HIDDEN; j++) s += last[j]! * Math.cos((v + 1) * (j + 0.5));
        return s;
      });
      return { logits };
    },
    dropSession(sessionId: string) {
      sessions.delete(sessionId);
    },
    async close() {
      sessions.clear();
    },
  };
}
