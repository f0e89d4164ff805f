// A ledger row's values for a settlement in store tests (SettleRequest['row']), overridable per test.
import type { SettleRequest } from '../../src/store/index.js';

export function settleRow(over: Partial<SettleRequest['row']> = {}): SettleRequest['row'] {
  return {
    createdAt: Date.now(),
    model: 'cascadia:m',
    provider: 'cascadia',
    upstreamModel: 'm',
    endpoint: 'chat.completions',
    stream: false,
    promptTokens: 10,
    completionTokens: 5,
    reservedNusd: 100,
    latencyMs: 3,
    ttftMs: null,
    status: 'ok',
    httpStatus: 200,
    meteredBy: 'upstream',
    nodeIds: ['node-a', 'node-b'],
    receiptDigest: 'ab'.repeat(32),
    error: null,
    ...over,
  };
}
