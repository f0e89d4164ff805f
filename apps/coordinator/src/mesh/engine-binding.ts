/**
 * The coordinator's view of `@cascadia/engine`, loaded on first use so that a coordinator that only
 * routes starts (and answers /health) without loading the inference runtimes. Types come from the
 * engine itself, so a change of its contract fails this package's typecheck.
 */
import type * as Engine from '@cascadia/engine';

export type EngineModule = typeof Engine;
export type Tokenizer = Engine.Tokenizer;
export type StreamDecoder = ReturnType<Engine.Tokenizer['createStreamDecoder']>;
export type ChatMessage = Engine.ChatMessage;
export type Sampler = Engine.Sampler;
export type SamplingParams = Engine.SamplingParams;

let cached: Promise<EngineModule> | null = null;

export function engine(): Promise<EngineModule> {
  cached ??= import('@cascadia/engine');
  return cached;
}
