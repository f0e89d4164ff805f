import { beforeAll, describe, expect, it } from 'vitest';
import {
  keyDirectoryFromPublished,
  ReceiptFormatError,
  signMeshReceipt,
  signStage,
  verifyMeshReceipt,
  verifyStage,
} from '../src/index.js';
import { clone, type Fixture, makeFixture, stageStatement } from './fixture.js';

describe('malformed input never throws and says what is wrong', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await makeFixture();
  });

  it('answers non-receipts with malformed', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const throwingGetter = new Proxy(
      {},
      {
        get() {
          throw new Error('boom');
        },
        has() {
          throw new Error('boom');
        },
      },
    );
    for (const input of [undefined, null, 42, 'receipt', [], {}, cyclic, throwingGetter, [f.receipt]]) {
      const result = await verifyMeshReceipt(input, { keys: f.keys });
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.reason).toBe('malformed');
        expect(result.detail.length).toBeGreaterThan(5);
      }
    }
  });

  it('names a missing field', async () => {
    for (const field of Object.keys(f.receipt)) {
      const copy: Record<string, unknown> = clone(f.receipt);
      delete copy[field];
      const result = await verifyMeshReceipt(copy, { keys: f.keys });
      expect(result).toMatchObject({ ok: false, reason: 'malformed' });
      if (!result.ok) expect(result.detail.startsWith(`receipt.${field}:`), result.detail).toBe(true);
    }
    const copy = clone(f.receipt);
    delete (copy.stages[1]!.statement as Partial<(typeof copy.stages)[1]['statement']>).layer_end;
    const result = await verifyMeshReceipt(copy, { keys: f.keys });
    expect(!result.ok && result.detail).toMatch(/^receipt\.stages\[1\]\.statement\.layer_end: /);
  });

  it('refuses unknown fields at every level (they would ride along unverified)', async () => {
    const places: [string, (r: Record<string, unknown> & typeof f.receipt) => void, RegExp][] = [
      [
        'receipt',
        (r) => {
          r.note = 'x';
        },
        /^receipt: unknown field\(s\) "note"$/,
      ],
      [
        'usage',
        (r) => {
          (r.usage as Record<string, unknown>).cost = 1;
        },
        /^receipt\.usage: unknown field/,
      ],
      [
        'stage',
        (r) => {
          (r.stages[0] as Record<string, unknown>).extra = 1;
        },
        /^receipt\.stages\[0\]: unknown/,
      ],
      [
        'statement',
        (r) => {
          (r.stages[1]!.statement as Record<string, unknown>).gpu = 'a100';
        },
        /^receipt\.stages\[1\]\.statement: unknown field\(s\) "gpu"$/,
      ],
    ];
    for (const [name, change, detail] of places) {
      const copy = clone(f.receipt) as Record<string, unknown> & typeof f.receipt;
      change(copy);
      const result = await verifyMeshReceipt(copy, { keys: f.keys });
      expect(result, name).toMatchObject({ ok: false, reason: 'malformed' });
      if (!result.ok) expect(result.detail, name).toMatch(detail);
    }
  });

  it('rejects wrong types, versions and formats field by field', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['v', 2, /^receipt\.v: unsupported version/],
      ['kind', 'stage', /^receipt\.kind: expected kind "mesh"/],
      ['request_id', '', /^receipt\.request_id: must not be empty/],
      ['request_id', 'a\nb', /^receipt\.request_id: must not contain control or format characters/],
      ['created_at', 'yesterday', /^receipt\.created_at: expected an ISO 8601/],
      ['request_digest', 'ABC', /^receipt\.request_digest: expected a lowercase hex SHA-256/],
      [
        'coordinator_public_key',
        'short',
        /^receipt\.coordinator_public_key: expected a 32-byte ed25519 public key/,
      ],
      ['signature', `${'A'.repeat(86)}==`, /^receipt\.signature: expected a 64-byte ed25519 signature/],
      ['node_ids', [], /^receipt\.node_ids: a receipt names at least one node/],
      ['stages', [], /^receipt\.stages: a receipt has at least one stage/],
      [
        'stages',
        Array.from({ length: 257 }, () => f.receipt.stages[0]),
        /^receipt\.stages: a receipt has at most 256 stages/,
      ],
      [
        'usage',
        { prompt_tokens: 1.5, completion_tokens: 0, total_tokens: 1.5 },
        /^receipt\.usage\.prompt_tokens: /,
      ],
    ];
    for (const [field, value, detail] of cases) {
      const result = await verifyMeshReceipt({ ...f.receipt, [field]: value }, { keys: f.keys });
      expect(result, field).toMatchObject({ ok: false, reason: 'malformed' });
      if (!result.ok) expect(result.detail, field).toMatch(detail);
    }
  });

  it('reports a malformed key directory in the options instead of throwing', async () => {
    const bad = [
      undefined,
      {},
      { coordinator: 'x', nodes: {} },
      { coordinator: [f.coordinator.publicKey], nodes: { a: 'b' } },
    ];
    for (const keys of bad) {
      const result = await verifyMeshReceipt(f.receipt, { keys } as never);
      expect(result).toMatchObject({ ok: false, reason: 'malformed' });
      if (!result.ok) expect(result.detail).toMatch(/^options\.keys/);
    }
    expect(await verifyMeshReceipt(f.receipt, undefined as never)).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
  });

  it('reports an expected digest that is not a digest as digest_mismatch, not a throw', async () => {
    const result = await verifyMeshReceipt(f.receipt, { keys: f.keys, requestDigest: 'nope' });
    expect(result).toMatchObject({ ok: false, reason: 'digest_mismatch' });
    // Upper-case hex of the right digest is the same digest.
    const upper = await verifyMeshReceipt(f.receipt, {
      keys: f.keys,
      outputDigest: f.receipt.output_digest.toUpperCase(),
    });
    expect(upper.ok).toBe(true);
  });

  it('verifyStage answers malformed and inconsistent stages', async () => {
    expect(await verifyStage(null)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(await verifyStage({ ...f.receipt.stages[0], signature: 'x' })).toMatchObject({
      ok: false,
      reason: 'malformed',
      detail: expect.stringMatching(/^stage\.signature: /),
    });
    const empty = await signStage(stageStatement(f.nodes[0], f.nodeIds[0], 3, 3), f.nodes[0].privateKey);
    expect(await verifyStage(empty)).toMatchObject({ ok: false, reason: 'inconsistent' });
  });
});

describe('signing refuses what it cannot sign correctly', () => {
  it('signStage and signMeshReceipt reject invalid input and a key that is not the named one', async () => {
    const f = await makeFixture();
    await expect(
      signStage({ ...stageStatement(f.nodes[0], f.nodeIds[0], 0, 15), tokens: -1 }, f.nodes[0].privateKey),
    ).rejects.toThrow(/cannot sign stage: statement\.tokens: /);
    await expect(
      signStage(stageStatement(f.nodes[0], f.nodeIds[0], 0, 15), f.nodes[1].privateKey),
    ).rejects.toThrow(/does not belong to statement\.public_key/);
    const { signature: _s, ...body } = f.receipt;
    await expect(signMeshReceipt({ ...body, v: 2 as 1 }, f.coordinator.privateKey)).rejects.toThrow(
      ReceiptFormatError,
    );
    await expect(signMeshReceipt(body, 'not-a-key')).rejects.toThrow(/private key is not a 32-byte seed/);
  });
});

describe('keyDirectoryFromPublished', () => {
  it('builds the directory from the coordinator document and accepts a directory as is', async () => {
    const f = await makeFixture();
    const withExtras = {
      ...clone(f.published),
      generated_at: 'now',
      nodes: f.published.nodes.map((n) => ({ ...n, shard: 0 })),
    };
    expect(keyDirectoryFromPublished(withExtras)).toEqual(f.keys);
    expect(keyDirectoryFromPublished(clone(f.keys))).toEqual(f.keys);
  });

  it('throws ReceiptFormatError naming the problem', async () => {
    const f = await makeFixture();
    expect(() => keyDirectoryFromPublished(null)).toThrow(ReceiptFormatError);
    expect(() =>
      keyDirectoryFromPublished({ ...f.published, coordinator: { id: 'c', public_key: 'x' } }),
    ).toThrow(/coordinator\.public_key: expected a 32-byte ed25519 public key/);
    const conflicting = {
      ...f.published,
      nodes: [...f.published.nodes, { node_id: f.nodeIds[0], public_key: f.nodes[1].publicKey }],
    };
    expect(() => keyDirectoryFromPublished(conflicting)).toThrow(
      /nodes\[2\] lists node "node-.*" again with a different key/,
    );
    // Listing a node twice with the same key is harmless.
    const repeated = { ...f.published, nodes: [...f.published.nodes, f.published.nodes[0]!] };
    expect(keyDirectoryFromPublished(repeated)).toEqual(f.keys);
  });
});
