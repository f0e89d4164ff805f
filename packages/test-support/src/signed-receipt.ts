import {
  computeOutputDigest,
  computeRequestDigest,
  generateKeyPair,
  type MeshReceipt,
  nodeIdFromPublicKey,
  type PublicKeyDirectory,
  signMeshReceipt,
  signStage,
} from '@cascadia/receipts';

/** A genuinely signed two-stage mesh receipt for `request` producing `output`, and the keys to check it. */
export async function signedReceipt(
  request: unknown,
  output: string,
): Promise<{ receipt: MeshReceipt; keys: PublicKeyDirectory }> {
  const coordinator = await generateKeyPair();
  const nodes = [await generateKeyPair(), await generateKeyPair()];
  const now = new Date().toISOString();
  const digest = computeOutputDigest(output);
  const stages = await Promise.all(
    nodes.map((node, i) =>
      signStage(
        {
          v: 1,
          kind: 'stage',
          request_id: 'req-signed-1',
          node_id: nodeIdFromPublicKey(node.publicKey),
          public_key: node.publicKey,
          model_id: 'smollm2-135m-instruct',
          shard_digest: 'a'.repeat(64),
          layer_start: i * 15,
          layer_end: (i + 1) * 15,
          input_digest: 'b'.repeat(64),
          output_digest: 'c'.repeat(64),
          tokens: 7,
          started_at: now,
          finished_at: now,
        },
        node.privateKey,
      ),
    ),
  );
  const receipt = await signMeshReceipt(
    {
      v: 1,
      kind: 'mesh',
      request_id: 'req-signed-1',
      created_at: now,
      model_id: 'smollm2-135m-instruct',
      coordinator_id: 'coordinator-test',
      coordinator_public_key: coordinator.publicKey,
      request_digest: computeRequestDigest(request),
      output_digest: digest,
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
      node_ids: stages.map((stage) => stage.statement.node_id),
      stages,
    },
    coordinator.privateKey,
  );
  const keys: PublicKeyDirectory = {
    coordinator: [coordinator.publicKey],
    nodes: Object.fromEntries(stages.map((stage) => [stage.statement.node_id, stage.statement.public_key])),
  };
  return { receipt, keys };
}
