import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportShards, loadShard, type ShardRunner } from '../src/index.js';
import { loadTokenizer, type Tokenizer } from '../src/tokenizer/index.js';
import { type LlamaCppReference, llamaCppUnavailableReason, openLlamaCpp } from './support/llama-cpp.js';
import { SMOLLM2_MISSING_REASON, smollm2Path } from './support/smollm2.js';

/**
 * Greedy decoding of SmolLM2-135M-Instruct (Q4_1 GGUF) through our exported shards against llama.cpp on
 * the same file. Where the two pick different tokens, the logits at that step are compared: a divergence
 * is accepted only as a near-tie in llama.cpp's own logits (int8 activations in MatMulNBits and an int8
 * KV cache here, Q8_1 activations and an f16 cache in llama.cpp, round differently, which can flip two
 * almost equal candidates).
 */

const unavailable = await llamaCppUnavailableReason();
if (unavailable) console.warn(`greedy parity with llama.cpp not run: ${unavailable}`);
const gguf = smollm2Path();
if (!gguf) console.warn(SMOLLM2_MISSING_REASON);

const STEPS = 32;
/** Largest llama.cpp logit gap between its pick and ours that still counts as a near-tie. */
const NEAR_TIE = 0.5;
/** Largest difference of mean-centred top logits at the first step. */
const LOGIT_TOLERANCE = 1.0;

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/** Chain shard runners (contract API): tokens in, last-position logits out. */
async function forward(runners: ShardRunner[], session: string, tokens: number[], position: number) {
  let out = await runners[0]!.forward(
    session,
    { tokens: Int32Array.from(tokens) },
    { position, length: tokens.length },
  );
  for (const r of runners.slice(1)) {
    if (!('hidden' in out)) throw new Error('a middle shard returned logits');
    out = await r.forward(session, { hidden: out.hidden }, { position, length: tokens.length });
  }
  if (!('logits' in out)) throw new Error('the last shard returned no logits');
  return out.logits;
}

async function ourGreedy(runners: ShardRunner[], prompt: number[], session: string) {
  const tokens: number[] = [];
  const logits: Float32Array[] = [];
  let l = await forward(runners, session, prompt, 0);
  for (let k = 0; k < STEPS; k++) {
    logits.push(l);
    tokens.push(argmax(l));
    if (k + 1 < STEPS) l = await forward(runners, session, [tokens[k]!], prompt.length + k);
  }
  for (const r of runners) r.dropSession(session);
  return { tokens, logits };
}

describe.skipIf(!!unavailable || !gguf)(
  'greedy decoding matches llama.cpp on SmolLM2-135M-Instruct Q4_1',
  () => {
    let dir: string;
    let whole: ShardRunner[];
    let halves: ShardRunner[];
    let ref: LlamaCppReference;
    let tok: Tokenizer;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'parity-'));
      await exportShards({ model: gguf!, outDir: join(dir, 'one'), shards: 1, maxContext: 256 });
      await exportShards({ model: gguf!, outDir: join(dir, 'two'), shards: 2, maxContext: 256 });
      whole = [await loadShard(join(dir, 'one', 'shard-0-of-1'), { engine: 'onnxruntime' })];
      halves = [
        await loadShard(join(dir, 'two', 'shard-0-of-2'), { engine: 'onnxruntime' }),
        await loadShard(join(dir, 'two', 'shard-1-of-2'), { engine: 'onnxruntime' }),
      ];
      ref = await openLlamaCpp(gguf!, { contextSize: 256 });
      tok = loadTokenizer(gguf!);
    }, 300_000);

    afterAll(async () => {
      for (const r of [...(whole ?? []), ...(halves ?? [])]) await r.close();
      await ref?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const prompts: { name: string; text: (t: Tokenizer) => string }[] = [
      {
        name: 'chat: capital of France (no system prompt)',
        text: () => '<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n',
      },
      {
        name: 'chat template: reverse a string in Python',
        text: (t) =>
          t.applyChatTemplate([{ role: 'user', content: 'Write a Python function that reverses a string.' }]),
      },
      { name: 'plain: once upon a time', text: () => 'Once upon a time, in a small village,' },
      { name: 'plain: the quick brown fox', text: () => 'The quick brown fox' },
      {
        name: 'chat template: three colors',
        text: (t) => t.applyChatTemplate([{ role: 'user', content: 'List three colors.' }]),
      },
    ];

    for (const [i, p] of prompts.entries()) {
      it(`${p.name}: ${STEPS} greedy tokens agree, or diverge only at a near-tie`, async () => {
        const prompt = tok.encode(p.text(tok));
        const ours = await ourGreedy(whole, prompt, `whole-${i}`);
        // llama.cpp stops at an end-of-generation token; ours must then produce one at the same step.
        const theirs = await ref.greedy(prompt, STEPS);
        expect(theirs.length).toBeGreaterThan(0);

        // First-step logits: same top token, and the same shape once the (softmax-irrelevant) offset is removed.
        const first = await ref.logitsAfter(prompt);
        const top = [...first.keys()].filter((j) => Number.isFinite(first[j]!));
        const mean = (v: Float32Array) => top.reduce((s, j) => s + v[j]!, 0) / top.length;
        const [mr, mo] = [mean(first), mean(ours.logits[0]!)];
        const worst = Math.max(...top.map((j) => Math.abs(first[j]! - mr - (ours.logits[0]![j]! - mo))));
        expect(argmax(ours.logits[0]!)).toBe(argmax(first));
        expect(worst).toBeLessThan(LOGIT_TOLERANCE);

        const k = ours.tokens.findIndex((t, j) => j >= theirs.length || t !== theirs[j]);
        if (k < 0) {
          console.log(
            `[parity] ${p.name}: all ${STEPS} tokens identical: ${JSON.stringify(tok.decode(ours.tokens))}`,
          );
          return;
        }
        const at = await ref.logitsAfter([...prompt, ...ours.tokens.slice(0, k)]);
        if (k === theirs.length && tok.isEndOfGeneration(ours.tokens[k]!) && argmax(at) === ours.tokens[k]) {
          console.log(
            `[parity] ${p.name}: identical up to the end of the answer (${k} tokens, then ${JSON.stringify(tok.decode([ours.tokens[k]!]))}): ` +
              JSON.stringify(tok.decode(ours.tokens.slice(0, k))),
          );
          return;
        }
        const theirPick = k < theirs.length ? theirs[k]! : argmax(at);
        const ourPick = ours.tokens[k]!;
        const gapTheirs = at[theirPick]! - at[ourPick]!;
        const gapOurs = ours.logits[k]![ourPick]! - ours.logits[k]![theirPick]!;
        console.log(
          `[parity] ${p.name}: identical for ${k} tokens (${JSON.stringify(tok.decode(ours.tokens.slice(0, k)))}), ` +
            `then llama.cpp picks ${JSON.stringify(tok.decode([theirPick]))} and we pick ${JSON.stringify(tok.decode([ourPick]))}: ` +
            `llama.cpp prefers its pick by ${gapTheirs.toFixed(3)} logits, we prefer ours by ${gapOurs.toFixed(3)} — a near-tie ` +
            'flipped by rounding (int8 activations and KV cache here, Q8_1 activations and f16 cache in llama.cpp).',
        );
        expect(Number.isFinite(at[ourPick]!), 'our pick is among llama.cpp top logits').toBe(true);
        expect(gapTheirs).toBeLessThan(NEAR_TIE);
        expect(gapOurs).toBeLessThan(NEAR_TIE);
      }, 180_000);
    }

    it('answers the capital question sensibly, and two chained shards answer exactly as the whole model', async () => {
      const prompt = tok.encode(prompts[0]!.text(tok));
      const ours = await ourGreedy(whole, prompt, 'paris');
      expect(tok.decode(ours.tokens)).toMatch(/Paris/);
      const chained = await ourGreedy(halves, prompt, 'paris-chained');
      expect(chained.tokens).toEqual(ours.tokens);
    }, 180_000);
  },
);
