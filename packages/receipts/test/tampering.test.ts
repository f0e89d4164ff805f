/**
 * Tampering with any part of a realistic two-stage receipt must fail verification, with the reason
 * that names what went wrong. Two attackers are modelled: someone changing the receipt in transit
 * (cannot re-sign anything), and a coordinator that signs a receipt misreporting the nodes' work
 * (can re-sign the whole, not the stages).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  base64urlDecode,
  base64urlEncode,
  generateKeyPair,
  type MeshReceipt,
  type MeshReceiptBody,
  nodeIdFromPublicKey,
  sha256Hex,
  signMeshReceipt,
  signStage,
  type VerifyFailureReason,
  verifyMeshReceipt,
} from '../src/index.js';
import { clone, type Fixture, makeFixture, stageStatement } from './fixture.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

function leafPaths(value: Json, path: Path = []): Path[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => leafPaths(item, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => leafPaths(item, [...path, key]));
  }
  return [path];
}

function getAt(root: Json, path: Path): Json {
  let node: Json = root;
  for (const key of path) node = (node as Record<string | number, Json>)[key]!;
  return node;
}

function setAt(root: Json, path: Path, value: Json): void {
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, Json>;
  parent[path[path.length - 1]!] = value;
}

function flipByte(encoded: string, index: number): string {
  const bytes = base64urlDecode(encoded);
  bytes[index] = bytes[index]! ^ 0x01;
  return base64urlEncode(bytes);
}

/** A different value of the same shape, so the mutated receipt is still well-formed where possible. */
function mutate(value: Json, key: string | number, otherPublicKey: string): Json {
  if (typeof value === 'number') return value + 1;
  if (typeof value === 'boolean') return !value;
  if (typeof value !== 'string') return 'x';
  if (key === 'kind') return value === 'stage' ? 'mesh' : 'stage';
  if (/^[0-9a-f]{64}$/.test(value)) return (value[0] === '0' ? '1' : '0') + value.slice(1);
  if (value.length === 86) return flipByte(value, 10);
  if (value.length === 43) return otherPublicKey;
  if (!Number.isNaN(Date.parse(value)) && /^\d{4}-/.test(value)) {
    return new Date(Date.parse(value) + 1000).toISOString();
  }
  return `${value}x`;
}

function expectedTransitReason(path: Path): VerifyFailureReason {
  const key = path[path.length - 1];
  if (key === 'v' || key === 'kind') return 'malformed';
  if (path.length === 1 && key === 'coordinator_public_key') return 'unknown_key';
  return 'bad_signature';
}

describe('tampering in transit (nothing re-signed)', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await makeFixture();
  });

  it('changing any single leaf of the receipt fails with the expected reason', async () => {
    const other = (await generateKeyPair()).publicKey;
    const paths = leafPaths(f.receipt as unknown as Json);
    expect(paths.length).toBeGreaterThan(40);
    for (const path of paths) {
      const tampered = clone(f.receipt) as unknown as Json;
      const original = getAt(tampered, path);
      const changed = mutate(original, path[path.length - 1]!, other);
      expect(changed, path.join('.')).not.toEqual(original);
      setAt(tampered, path, changed);
      const result = await verifyMeshReceipt(tampered, { keys: f.keys });
      expect(result.ok, path.join('.')).toBe(false);
      if (!result.ok)
        expect(`${path.join('.')}: ${result.reason}`).toBe(
          `${path.join('.')}: ${expectedTransitReason(path)}`,
        );
    }
  });

  it('flipping any one byte of the coordinator signature fails as bad_signature', async () => {
    for (let index = 0; index < 64; index++) {
      const tampered = { ...f.receipt, signature: flipByte(f.receipt.signature, index) };
      const result = await verifyMeshReceipt(tampered, { keys: f.keys });
      expect(result, `byte ${index}`).toMatchObject({ ok: false, reason: 'bad_signature' });
    }
  });

  it('flipping any one byte of a stage signature fails as bad_signature', async () => {
    for (const stageIndex of [0, 1]) {
      for (let index = 0; index < 64; index += 7) {
        const tampered = clone(f.receipt);
        tampered.stages[stageIndex]!.signature = flipByte(tampered.stages[stageIndex]!.signature, index);
        const result = await verifyMeshReceipt(tampered, { keys: f.keys });
        expect(result, `stage ${stageIndex} byte ${index}`).toMatchObject({
          ok: false,
          reason: 'bad_signature',
        });
      }
    }
  });

  it('reordering, dropping or duplicating stages and node ids fails as bad_signature', async () => {
    const variants: [string, (r: MeshReceipt) => void][] = [
      ['reverse stages', (r) => r.stages.reverse()],
      ['reverse node_ids', (r) => r.node_ids.reverse()],
      [
        'reverse both',
        (r) => {
          r.stages.reverse();
          r.node_ids.reverse();
        },
      ],
      [
        'drop last stage',
        (r) => {
          r.stages.pop();
          r.node_ids.pop();
        },
      ],
      ['duplicate a stage', (r) => r.stages.push(clone(r.stages[1]!))],
      [
        'swap the stage signatures',
        (r) => {
          const [a, b] = [r.stages[0]!.signature, r.stages[1]!.signature];
          r.stages[0]!.signature = b;
          r.stages[1]!.signature = a;
        },
      ],
    ];
    for (const [name, change] of variants) {
      const tampered = clone(f.receipt);
      change(tampered);
      const result = await verifyMeshReceipt(tampered, { keys: f.keys });
      expect(result, name).toMatchObject({ ok: false, reason: 'bad_signature' });
    }
  });

  it('a non-canonical spelling of a valid signature is malformed, not accepted', async () => {
    const signature = f.receipt.signature;
    // The last character of 64 bytes in base64url carries 2 data bits and 4 unused bits.
    const last = signature[85]!;
    const sibling = String.fromCharCode(last.charCodeAt(0) + 1);
    const result = await verifyMeshReceipt(
      { ...f.receipt, signature: signature.slice(0, 85) + sibling },
      { keys: f.keys },
    );
    expect(result).toMatchObject({ ok: false, reason: 'malformed' });
    expect(!result.ok && result.detail).toMatch(/^receipt\.signature: /);
  });
});

describe('a coordinator that re-signs a false receipt', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await makeFixture();
  });

  async function resign(change: (body: MeshReceiptBody) => void | Promise<void>): Promise<MeshReceipt> {
    const { signature: _signature, ...body } = clone(f.receipt);
    await change(body);
    return signMeshReceipt(body, f.coordinator.privateKey);
  }

  async function expectFailure(
    receipt: MeshReceipt,
    reason: VerifyFailureReason,
    detail: RegExp,
  ): Promise<void> {
    const result = await verifyMeshReceipt(receipt, { keys: f.keys });
    expect(result).toMatchObject({ ok: false, reason });
    if (!result.ok) expect(result.detail).toMatch(detail);
  }

  it('changing any leaf of a stage statement breaks that stage signature', async () => {
    const other = (await generateKeyPair()).publicKey;
    for (const stageIndex of [0, 1]) {
      const statementPaths = leafPaths(f.receipt.stages[stageIndex]!.statement as unknown as Json);
      for (const path of statementPaths) {
        const key = path[path.length - 1]!;
        if (key === 'v' || key === 'kind' || key === 'public_key' || key === 'node_id') continue; // covered below
        const receipt = await resign((body) => {
          const statement = body.stages[stageIndex]!.statement as unknown as Json;
          setAt(statement, path, mutate(getAt(statement, path), key, other));
        });
        await expectFailure(
          receipt,
          'bad_signature',
          new RegExp(`^stages\\[${stageIndex}\\] \\(node [^)]+\\): stage signature`),
        );
      }
    }
  });

  it('claiming another node id or key for a stage is an unknown key', async () => {
    await expectFailure(
      await resign((b) => {
        b.stages[0]!.statement.node_id = 'node-impostor';
      }),
      'unknown_key',
      /^stages\[0\] \(node node-impostor\): node "node-impostor" is not in the key directory$/,
    );
    const other = await generateKeyPair();
    await expectFailure(
      await resign(async (b) => {
        b.stages[1] = await signStage(
          { ...b.stages[1]!.statement, public_key: other.publicKey },
          other.privateKey,
        );
      }),
      'unknown_key',
      /^stages\[1\] .*is not the published key of node/,
    );
  });

  it('a flipped stage signature re-wrapped by the coordinator is named by stage', async () => {
    await expectFailure(
      await resign((b) => {
        b.stages[1]!.signature = flipByte(b.stages[1]!.signature, 0);
      }),
      'bad_signature',
      /^stages\[1\] \(node node-[^)]+\): stage signature does not verify/,
    );
  });

  it('node ids and stages that disagree are inconsistent', async () => {
    await expectFailure(
      await resign((b) => void b.node_ids.reverse()),
      'inconsistent',
      /^node_ids\[0\] is "/,
    );
    await expectFailure(await resign((b) => void b.stages.reverse()), 'inconsistent', /^node_ids\[0\] is "/);
    await expectFailure(
      await resign((b) => {
        b.stages.reverse();
        b.node_ids.reverse();
      }),
      'inconsistent',
      /^stages\[0\] \(node [^)]+\): statement.layer_start is 15; the first stage must start at layer 0$/,
    );
    await expectFailure(
      await resign((b) => void b.node_ids.pop()),
      'inconsistent',
      /^node_ids lists 1 node\(s\) but the receipt has 2 stage\(s\)$/,
    );
  });

  it('stages honestly signed by nodes for something else are inconsistent', async () => {
    const cases: [string, Partial<Parameters<typeof stageStatement>[4]>, number, number, RegExp][] = [
      [
        'another request',
        { request_id: 'chatcmpl-other' },
        15,
        30,
        /statement.request_id "chatcmpl-other" differs/,
      ],
      ['another model', { model_id: 'llama-8b' }, 15, 30, /statement.model_id "llama-8b" differs/],
      ['a layer gap', {}, 16, 30, /statement.layer_start is 16 but the previous stage ended at layer 15$/],
      ['an overlap', {}, 14, 30, /statement.layer_start is 14 but the previous stage ended at layer 15$/],
      ['an empty range', {}, 15, 15, /layer range \[15, 15\) is empty/],
      [
        'finishing before starting',
        { started_at: '2026-05-09T10:00:02.000Z', finished_at: '2026-05-09T10:00:01.000Z' },
        15,
        30,
        /finished_at .* is before started_at/,
      ],
    ];
    for (const [name, overrides, start, end, detail] of cases) {
      const receipt = await resign(async (b) => {
        b.stages[1] = await signStage(
          stageStatement(f.nodes[1], f.nodeIds[1], start, end, overrides),
          f.nodes[1].privateKey,
        );
      });
      const result = await verifyMeshReceipt(receipt, { keys: f.keys });
      expect(result, name).toMatchObject({ ok: false, reason: 'inconsistent' });
      if (!result.ok) expect(result.detail, name).toMatch(detail);
    }
  });

  it('usage whose total is not prompt + completion is inconsistent', async () => {
    await expectFailure(
      await resign((b) => {
        b.usage.total_tokens = 41;
      }),
      'inconsistent',
      /^usage.total_tokens is 41 but prompt_tokens \+ completion_tokens is 42$/,
    );
  });

  it('a receipt from an untrusted coordinator key is an unknown key, even if internally valid', async () => {
    const rogue = await generateKeyPair();
    const receipt = await resign((b) => {
      b.coordinator_public_key = rogue.publicKey;
    }).catch(() => null);
    expect(receipt).toBeNull(); // signMeshReceipt refuses a key that is not the body's
    const { signature: _s, ...body } = clone(f.receipt);
    const rogueReceipt = await signMeshReceipt(
      { ...body, coordinator_public_key: rogue.publicKey },
      rogue.privateKey,
    );
    await expectFailure(rogueReceipt, 'unknown_key', /is not a trusted coordinator key$/);
    // Claiming the trusted key while signing with another is a bad signature.
    const forged = { ...f.receipt, signature: rogueReceipt.signature };
    await expectFailure(forged, 'bad_signature', /^receipt signature \(coordinator "coordinator-main"\)/);
  });

  it('a stage from a node of the directory signed by the wrong key is refused', async () => {
    const impostor = await generateKeyPair();
    const impostorId = nodeIdFromPublicKey(impostor.publicKey);
    const receipt = await resign(async (b) => {
      b.stages[1] = await signStage(stageStatement(impostor, impostorId, 15, 30), impostor.privateKey);
      b.node_ids[1] = impostorId;
    });
    await expectFailure(
      receipt,
      'unknown_key',
      new RegExp(`node "${impostorId}" is not in the key directory`),
    );
    // Once the directory lists it, the same receipt verifies: the failure was only the key.
    const keys = { ...f.keys, nodes: { ...f.keys.nodes, [impostorId]: impostor.publicKey } };
    expect((await verifyMeshReceipt(receipt, { keys })).ok).toBe(true);
  });

  it('with requireLinkedStages, a stage whose input is not the previous output is inconsistent', async () => {
    expect((await verifyMeshReceipt(f.receipt, { keys: f.keys, requireLinkedStages: true })).ok).toBe(true);
    const receipt = await resign(async (b) => {
      const unlinked = stageStatement(f.nodes[1], f.nodeIds[1], 15, 30, {
        input_digest: sha256Hex('something else'),
      });
      b.stages[1] = await signStage(unlinked, f.nodes[1].privateKey);
    });
    expect((await verifyMeshReceipt(receipt, { keys: f.keys })).ok).toBe(true);
    const linked = await verifyMeshReceipt(receipt, { keys: f.keys, requireLinkedStages: true });
    expect(linked).toMatchObject({ ok: false, reason: 'inconsistent' });
    expect(!linked.ok && linked.detail).toMatch(
      /^stages\[1\] \(node [^)]+\): statement.input_digest [0-9a-f]{64} is not the output_digest [0-9a-f]{64} of stages\[0\]/,
    );
  });
});
