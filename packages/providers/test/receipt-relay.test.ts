import { parseSSE } from '@cascadia/openai';
import { computeOutputDigest, computeRequestDigest, verifyMeshReceipt } from '@cascadia/receipts';
import { type FakeUpstream, signedReceipt, startUpstream } from '@cascadia/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCascadiaProvider, createProviderRegistry } from '../src/index.js';

// The gateway's path: a client asks for `cascadia/<id>`, the registry sends `model: <id>` to the
// mesh, and the mesh's stream comes back with a receipt that still verifies — over the request
// exactly as the mesh received it and the text the client reassembles.
let mesh: FakeUpstream;
beforeAll(async () => {
  mesh = await startUpstream();
});
afterAll(async () => {
  await mesh.close();
});

it('a signed receipt relayed through the registry verifies against what the mesh saw and sent', async () => {
  const clientBody = {
    model: 'cascadia/smollm2-135m-instruct',
    messages: [{ role: 'user', content: 'Say hello' }],
    stream: true,
    stream_options: { include_usage: true },
    metadata: { demo: 'receipts' },
  };
  const meshBody = { ...clientBody, model: 'smollm2-135m-instruct' };
  const { receipt, keys } = await signedReceipt(meshBody, 'Hello!');
  const frames = [
    { choices: [{ index: 0, delta: { content: 'Hel' } }] },
    { choices: [{ index: 0, delta: { content: 'lo!' } }] },
    { choices: [], usage: receipt.usage, cascadia: { node_ids: receipt.node_ids, receipt } },
  ];
  const wire = `${frames.map((frame) => `data: ${JSON.stringify(frame)}\n\n`).join('')}data: [DONE]\n\n`;
  mesh.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(wire);
  });

  const registry = createProviderRegistry({ providers: [createCascadiaProvider({ baseURL: mesh.baseURL })] });
  const response = await registry.resolve(clientBody.model).provider.chatCompletions(clientBody);
  const received = new TextDecoder().decode(await response.arrayBuffer());
  expect(received).toBe(wire);

  const events = [];
  for await (const event of parseSSE(new Response(received).body!)) events.push(event);
  const parsed = events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
  const text = parsed.map((p) => p.choices[0]?.delta?.content ?? '').join('');
  const result = await verifyMeshReceipt(parsed.at(-1)?.cascadia?.receipt, {
    keys,
    requestDigest: computeRequestDigest(JSON.parse(mesh.requests[0]?.rawBody ?? '')),
    outputDigest: computeOutputDigest(text),
  });
  expect(result).toEqual({ ok: true, receipt });
});
