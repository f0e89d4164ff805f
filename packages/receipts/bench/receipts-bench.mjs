// Sign/verify costs per response, on the built package: `pnpm --filter @cascadia/receipts bench`
// (turbo's bench task builds first). Plain JS so it needs no TypeScript loader.
import {
  canonicalize,
  computeOutputDigest,
  computeRequestDigest,
  generateKeyPair,
  nodeIdFromPublicKey,
  sha256Hex,
  signMeshReceipt,
  signStage,
  verifyMeshReceipt,
} from '../dist/index.js';

async function measure(name, fn, minMs = 1000) {
  for (let i = 0; i < 5; i++) await fn(); // warm up
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < minMs) {
    await fn();
    runs++;
  }
  const perRun = (performance.now() - start) / runs;
  console.log(`${name.padEnd(48)} ${perRun.toFixed(3).padStart(9)} ms/op  (${runs} runs)`);
}

const coordinator = await generateKeyPair();
const nodes = [await generateKeyPair(), await generateKeyPair()];
const nodeIds = nodes.map((n) => nodeIdFromPublicKey(n.publicKey));
const now = new Date().toISOString();
const stages = [];
for (const [i, [start, end]] of [
  [0, 15],
  [15, 30],
].entries()) {
  stages.push(
    await signStage(
      {
        v: 1,
        kind: 'stage',
        request_id: 'chatcmpl-bench',
        node_id: nodeIds[i],
        public_key: nodes[i].publicKey,
        model_id: 'smollm2-135m-instruct',
        shard_digest: sha256Hex(`shard ${i}`),
        layer_start: start,
        layer_end: end,
        input_digest: sha256Hex(`in ${i}`),
        output_digest: sha256Hex(`out ${i}`),
        tokens: 200,
        started_at: now,
        finished_at: now,
      },
      nodes[i].privateKey,
    ),
  );
}
const request = {
  model: 'smollm2-135m-instruct',
  messages: Array.from({ length: 40 }, (_, i) => ({
    role: i % 2 ? 'assistant' : 'user',
    content: 'lorem ipsum '.repeat(50),
  })),
};
const body = {
  v: 1,
  kind: 'mesh',
  request_id: 'chatcmpl-bench',
  created_at: now,
  model_id: 'smollm2-135m-instruct',
  coordinator_id: 'bench',
  coordinator_public_key: coordinator.publicKey,
  request_digest: computeRequestDigest(request),
  output_digest: computeOutputDigest('x'.repeat(2000)),
  usage: { prompt_tokens: 150, completion_tokens: 50, total_tokens: 200 },
  node_ids: nodeIds,
  stages,
};
const receipt = await signMeshReceipt(body, coordinator.privateKey);
const keys = {
  coordinator: [coordinator.publicKey],
  nodes: Object.fromEntries(nodeIds.map((id, i) => [id, nodes[i].publicKey])),
};

console.log(`receipt: ${canonicalize(receipt).length} bytes canonical, 2 stages`);
await measure('canonicalize the receipt', () => canonicalize(receipt));
await measure('request digest, 40-message conversation', () => computeRequestDigest(request));
await measure('node signs a stage', () => signStage(stages[0].statement, nodes[0].privateKey));
await measure('coordinator signs the receipt', () => signMeshReceipt(body, coordinator.privateKey));
await measure('verify the receipt (3 signatures)', async () => {
  const result = await verifyMeshReceipt(receipt, { keys });
  if (!result.ok) throw new Error(result.detail);
});
