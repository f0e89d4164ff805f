import { describe, expect, it } from 'vitest';
import {
  canonicalize,
  computeOutputDigest,
  computeReceiptDigest,
  computeRequestDigest,
  keyDirectoryFromPublished,
  MeshReceiptSchema,
  sha256Hex,
  verifyMeshReceipt,
  verifyStage,
} from '../src/index.js';
import { clone, makeFixture, OUTPUT_TEXT, REQUEST_BODY } from './fixture.js';

describe('sign and verify round trip', () => {
  it('a receipt verifies after a JSON round trip, with both digests checked', async () => {
    const f = await makeFixture();
    const result = await verifyMeshReceipt(clone(f.receipt), {
      keys: keyDirectoryFromPublished(clone(f.published)),
      requestDigest: computeRequestDigest(clone(REQUEST_BODY)),
      outputDigest: computeOutputDigest(OUTPUT_TEXT),
    });
    expect(result).toEqual({ ok: true, receipt: f.receipt });
    expect(MeshReceiptSchema.parse(clone(f.receipt))).toEqual(f.receipt);
  });

  it('each signed stage verifies on its own, and against its expected key', async () => {
    const f = await makeFixture();
    for (const [i, stage] of f.receipt.stages.entries()) {
      expect((await verifyStage(clone(stage), { publicKey: f.nodes[i as 0 | 1].publicKey })).ok).toBe(true);
    }
    const wrongKey = await verifyStage(f.receipt.stages[0], { publicKey: f.nodes[1].publicKey });
    expect(wrongKey).toMatchObject({ ok: false, reason: 'unknown_key' });
    expect((await verifyStage(f.receipt.stages[1], { nodes: f.keys.nodes })).ok).toBe(true);
    const unlisted = await verifyStage(f.receipt.stages[1], {
      nodes: { [f.nodeIds[0]]: f.nodes[0].publicKey },
    });
    expect(unlisted).toMatchObject({
      ok: false,
      reason: 'unknown_key',
      detail: expect.stringMatching(/is not in the key directory$/),
    });
    const swapped = { [f.nodeIds[1]]: f.nodes[0].publicKey };
    expect(await verifyStage(f.receipt.stages[1], { nodes: swapped })).toMatchObject({
      ok: false,
      reason: 'unknown_key',
    });
    // A directory passed without the `nodes` wrapper would check nothing: it is refused instead.
    const unwrapped = await verifyStage(f.receipt.stages[1], {
      [f.nodeIds[1]]: f.nodes[1].publicKey,
    } as never);
    expect(unwrapped).toMatchObject({
      ok: false,
      reason: 'malformed',
      detail: expect.stringMatching(/^options: unknown field/),
    });
  });

  it('digests that differ from the receipt are reported as digest_mismatch naming the field', async () => {
    const f = await makeFixture();
    const request = await verifyMeshReceipt(f.receipt, {
      keys: f.keys,
      requestDigest: computeRequestDigest({ ...REQUEST_BODY, temperature: 1 }),
    });
    expect(request).toMatchObject({ ok: false, reason: 'digest_mismatch' });
    expect(!request.ok && request.detail).toMatch(/^request_digest: /);
    const output = await verifyMeshReceipt(f.receipt, {
      keys: f.keys,
      outputDigest: computeOutputDigest(`${OUTPUT_TEXT} `),
    });
    expect(output).toMatchObject({ ok: false, reason: 'digest_mismatch' });
    expect(!output.ok && output.detail).toMatch(/^output_digest: /);
  });

  it('computeReceiptDigest names a receipt independently of key order and changes with any field', async () => {
    const f = await makeFixture();
    const reordered = Object.fromEntries(Object.entries(clone(f.receipt)).reverse());
    expect(computeReceiptDigest(reordered)).toBe(computeReceiptDigest(f.receipt));
    expect(computeReceiptDigest(f.receipt)).toBe(sha256Hex(canonicalize(f.receipt)));
    expect(computeReceiptDigest({ ...f.receipt, created_at: '2026-05-09T10:00:02.000Z' })).not.toBe(
      computeReceiptDigest(f.receipt),
    );
  });
});
