/** A realistic two-stage receipt (SmolLM2's 30 layers split 0-15 / 15-30), built with real keys. */
import {
  computeOutputDigest,
  computeRequestDigest,
  generateKeyPair,
  type KeyPair,
  type MeshReceipt,
  type MeshReceiptBody,
  nodeIdFromPublicKey,
  type PublicKeyDirectory,
  type StageStatement,
  sha256Hex,
  signMeshReceipt,
  signStage,
} from '../src/index.js';

export const REQUEST_BODY = {
  model: 'smollm2-135m-instruct',
  messages: [{ role: 'user', content: 'Name three rivers in Oregon.' }],
  max_tokens: 32,
  temperature: 0,
};
export const OUTPUT_TEXT = 'The Columbia, the Willamette and the Deschutes.';

export interface Fixture {
  coordinator: KeyPair;
  nodes: [KeyPair, KeyPair];
  nodeIds: [string, string];
  keys: PublicKeyDirectory;
  published: {
    coordinator: { id: string; public_key: string };
    nodes: { node_id: string; public_key: string }[];
  };
  body: MeshReceiptBody;
  receipt: MeshReceipt;
}

export function stageStatement(
  nodeKey: KeyPair,
  nodeId: string,
  layerStart: number,
  layerEnd: number,
  overrides: Partial<StageStatement> = {},
): StageStatement {
  return {
    v: 1,
    kind: 'stage',
    request_id: 'chatcmpl-7f3a9c2e',
    node_id: nodeId,
    public_key: nodeKey.publicKey,
    model_id: 'smollm2-135m-instruct',
    shard_digest: sha256Hex(`shard ${layerStart}-${layerEnd}`),
    layer_start: layerStart,
    layer_end: layerEnd,
    // Stage outputs feed the next stage's input, so neighbouring digests are equal.
    input_digest: sha256Hex(`activations entering layer ${layerStart}`),
    output_digest: sha256Hex(`activations entering layer ${layerEnd}`),
    tokens: 41,
    started_at: '2026-05-09T10:00:00.120Z',
    finished_at: '2026-05-09T10:00:01.870Z',
    ...overrides,
  };
}

export async function makeFixture(): Promise<Fixture> {
  const coordinator = await generateKeyPair();
  const nodes: [KeyPair, KeyPair] = [await generateKeyPair(), await generateKeyPair()];
  const nodeIds: [string, string] = [
    nodeIdFromPublicKey(nodes[0].publicKey),
    nodeIdFromPublicKey(nodes[1].publicKey),
  ];
  const stages = [
    await signStage(stageStatement(nodes[0], nodeIds[0], 0, 15), nodes[0].privateKey),
    await signStage(stageStatement(nodes[1], nodeIds[1], 15, 30), nodes[1].privateKey),
  ];
  const body: MeshReceiptBody = {
    v: 1,
    kind: 'mesh',
    request_id: 'chatcmpl-7f3a9c2e',
    created_at: '2026-05-09T10:00:01.900Z',
    model_id: 'smollm2-135m-instruct',
    coordinator_id: 'coordinator-main',
    coordinator_public_key: coordinator.publicKey,
    request_digest: computeRequestDigest(REQUEST_BODY),
    output_digest: computeOutputDigest(OUTPUT_TEXT),
    usage: { prompt_tokens: 31, completion_tokens: 11, total_tokens: 42 },
    node_ids: [...nodeIds],
    stages,
  };
  const receipt = await signMeshReceipt(body, coordinator.privateKey);
  const published = {
    coordinator: { id: 'coordinator-main', public_key: coordinator.publicKey },
    nodes: nodeIds.map((nodeId, i) => ({ node_id: nodeId, public_key: nodes[i as 0 | 1].publicKey })),
  };
  const keys: PublicKeyDirectory = {
    coordinator: [coordinator.publicKey],
    nodes: { [nodeIds[0]]: nodes[0].publicKey, [nodeIds[1]]: nodes[1].publicKey },
  };
  return { coordinator, nodes, nodeIds, keys, published, body, receipt };
}

/** Deep copy through JSON, as a receipt would be after a trip over the wire. */
export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
