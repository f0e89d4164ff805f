import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signMessage } from '../src/auth/ed25519.js';
import { nodeIdOf } from '../src/auth/identity.js';
import { joinMessage, joinProof } from '../src/auth/join.js';
import { Fleet, JoinError, type JoinRequest } from '../src/mesh/fleet.js';
import type { ShardInfo } from '../src/mesh/types.js';

const TOKEN = 'fleet-unit-token';

function keys() {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  return { publicKey: jwk.x!, privateKey: jwk.d! };
}

const shard = (layer_start: number, layer_end: number): ShardInfo => ({
  model_id: 'm',
  digest: 'a'.repeat(64),
  layer_start,
  layer_end,
  has_embeddings: layer_start === 0,
  has_lm_head: layer_end === 4,
  hidden_size: 8,
  vocab_size: 10,
  max_context: 128,
  shard_index: 0,
  shard_count: 2,
});

function setup() {
  let now = 1_000_000;
  const coordinator = keys();
  const fleet = new Fleet({
    joinToken: TOKEN,
    identity: { id: 'coord-x', ...coordinator },
    heartbeatMs: 1000,
    forgetAfterMs: 60_000,
    now: () => now,
  });
  const request = (
    k: { publicKey: string; privateKey: string },
    s: ShardInfo,
    token = TOKEN,
    nodeId?: string,
  ): JoinRequest => {
    const nonce = fleet.issueNonce();
    const node_id = nodeId ?? nodeIdOf(k.publicKey);
    const message = joinMessage(nonce, node_id, k.publicKey);
    return {
      nonce,
      node_id,
      public_key: k.publicKey,
      proof: joinProof(token, message),
      signature: signMessage(message, k.privateKey),
      data: { host: '127.0.0.1', port: 1 },
      shard: s,
      report: { device: 'cpu', engine: 'onnxruntime', memory: { total_bytes: 1, free_bytes: 1 } },
    };
  };
  return { fleet, request, advance: (ms: number) => (now += ms) };
}

describe('fleet registry', () => {
  it('admits nodes with the join token and refuses wrong tokens, replayed nonces and borrowed ids', () => {
    const { fleet, request } = setup();
    const a = keys();
    const joined = request(a, shard(0, 2));
    fleet.join(joined);
    expect(fleet.nodes.has(nodeIdOf(a.publicKey))).toBe(true);
    expect(() => fleet.join(joined)).toThrow(expect.objectContaining({ code: 'bad_nonce' }));
    expect(() => fleet.join(request(keys(), shard(2, 4), 'wrong'))).toThrow(
      expect.objectContaining({ code: 'bad_join_token' }),
    );
    expect(() => fleet.join(request(keys(), shard(2, 4), TOKEN, nodeIdOf(a.publicKey)))).toThrow(JoinError);
    const forged = request(keys(), shard(2, 4));
    forged.signature = signMessage('something else', keys().privateKey);
    expect(() => fleet.join(forged)).toThrow(expect.objectContaining({ code: 'bad_signature' }));
    expect(fleet.nodes.size).toBe(1);
  });

  it('tracks health from heartbeats, routes only healthy nodes, and forgets silent ones', () => {
    const { fleet, request, advance } = setup();
    const a = keys();
    const b = keys();
    const na = fleet.join(request(a, shard(0, 2)));
    const nb = fleet.join(request(b, shard(2, 4)));
    expect(fleet.servableModels()).toEqual(['m']);
    advance(2500);
    fleet.heartbeat(na.node_id, na.lease, na.report);
    expect(fleet.health(nb)).toBe('healthy');
    advance(1000);
    expect(fleet.health(nb)).toBe('stale');
    expect(fleet.route('m')).toBeNull();
    expect(() => fleet.heartbeat(nb.node_id, 'not-the-lease', nb.report)).toThrow(
      expect.objectContaining({ code: 'unknown_lease' }),
    );
    fleet.heartbeat(nb.node_id, nb.lease, nb.report);
    expect(fleet.route('m')?.map((n) => n.node_id)).toEqual([na.node_id, nb.node_id]);
    fleet.markUnreachable(nb.node_id);
    expect(fleet.health(nb)).toBe('down');
    advance(61_000);
    fleet.heartbeat(na.node_id, na.lease, na.report);
    fleet.sweep();
    expect([...fleet.nodes.keys()]).toEqual([na.node_id]);
    expect(fleet.knownKeys.get(nb.node_id)).toBe(b.publicKey);
    fleet.close();
  });
});
