// The reservation estimate: an upper bound on what a call can cost, taken before it starts.
import type { Price } from './money.js';
import { costNano } from './money.js';

export interface CallEstimate {
  promptTokens: number;
  completionTokens: number;
  costNusd: number;
}

function positiveInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

/** The completion cap the request asks for, or undefined when it sets none. */
export function requestedMaxTokens(body: Record<string, unknown>): number | undefined {
  return positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens);
}

/**
 * prompt ≤ ceil(bodyBytes / bytesPerToken) (the body contains the whole prompt plus JSON syntax);
 * completion ≤ (max tokens) × n choices (× best_of for legacy completions).
 */
export function estimateCall(
  body: Record<string, unknown>,
  bodyBytes: number,
  price: Pick<Price, 'inputPerMillion' | 'outputPerMillion'> | null,
  options: { bytesPerToken: number; defaultMaxTokens: number },
): CallEstimate {
  const promptTokens = Math.ceil(bodyBytes / options.bytesPerToken);
  const choices = Math.max(positiveInt(body.n) ?? 1, positiveInt(body.best_of) ?? 1);
  const completionTokens = (requestedMaxTokens(body) ?? options.defaultMaxTokens) * choices;
  const costNusd = price ? costNano(price, promptTokens, completionTokens) : 0;
  return { promptTokens, completionTokens, costNusd };
}
