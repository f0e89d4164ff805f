// Money is counted in integer nano-USD (1e-9 USD): exact sums and exact budget comparisons in SQL.

export const NANO_PER_USD = 1_000_000_000;

export function usdToNano(usd: number): number {
  return Math.round(usd * NANO_PER_USD);
}

export function nanoToUsd(nano: number): number {
  return nano / NANO_PER_USD;
}

export interface Price {
  model: string;
  inputPerMillion: number;
  outputPerMillion: number;
  effectiveFrom: number;
}

/**
 * Cost of a call, rounded up to the next nano-USD so a call that produced tokens at a non-zero
 * price never costs zero. 1 USD per million tokens = 1000 nano-USD per token.
 */
export function costNano(
  price: Pick<Price, 'inputPerMillion' | 'outputPerMillion'>,
  prompt: number,
  completion: number,
): number {
  const exact = prompt * price.inputPerMillion * 1000 + completion * price.outputPerMillion * 1000;
  // Tolerate binary floating-point noise (10 × 0.1 × 1000 = 1000.0000000000001) before rounding up.
  return Math.max(0, Math.ceil(exact - 1e-6));
}
