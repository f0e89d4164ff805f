import { generateKeyPair, signStage } from '@cascadia/receipts';
import { describe, expect, it } from 'vitest';
import { nodeIdOf } from '../src/auth/identity.js';
import { type ExpectedStage, findStageProblem } from '../src/mesh/stage-check.js';
import type { SignedStage } from '../src/mesh/types.js';

async function stage(
  keys: { publicKey: string; privateKey: string },
  layers: [number, number],
  requestId = 'req-1',
) {
  return signStage(
    {
      v: 1,
      kind: 'stage',
      request_id: requestId,
      node_id: nodeIdOf(keys.publicKey),
      public_key: keys.publicKey,
      model_id: 'm',
      shard_digest: 'a'.repeat(64),
      layer_start: layers[0],
      layer_end: layers[1],
      input_digest: 'b'.repeat(64),
      output_digest: 'c'.repeat(64),
      tokens: 3,
      started_at: new Date().toISOString(),
      finished_at: new Date().toISOString(),
    },
    keys.privateKey,
  );
}

describe('stage statements the coordinator signs over', () => {
  it('accepts the route it chose and refuses anything else, with the reason', async () => {
    const a = await generateKeyPair();
    const b = await generateKeyPair();
    const route: ExpectedStage[] = [
      {
        node_id: nodeIdOf(a.publicKey),
        public_key: a.publicKey,
        model_id: 'm',
        shard_digest: 'a'.repeat(64),
        layer_start: 0,
        layer_end: 2,
      },
      {
        node_id: nodeIdOf(b.publicKey),
        public_key: b.publicKey,
        model_id: 'm',
        shard_digest: 'a'.repeat(64),
        layer_start: 2,
        layer_end: 4,
      },
    ];
    const good = [await stage(a, [0, 2]), await stage(b, [2, 4])];
    expect(findStageProblem('req-1', good, route)).toBeNull();
    expect(findStageProblem('req-1', [good[0]!], route)).toMatch(/expected 2/);
    expect(findStageProblem('req-1', [good[1]!, good[0]!], route)).toMatch(/does not name/);
    expect(findStageProblem('req-2', good, route)).toMatch(/another request/);
    expect(findStageProblem('req-1', [good[0]!, await stage(b, [2, 3])], route)).toMatch(/other layers/);
    const forged: SignedStage = { ...good[1]!, statement: { ...good[1]!.statement, tokens: 99 } };
    expect(findStageProblem('req-1', [good[0]!, forged], route)).toMatch(/not signed by/);
  });
});
