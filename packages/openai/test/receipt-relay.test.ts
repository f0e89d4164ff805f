import type { CascadiaBlock as ReceiptsCascadiaBlock } from '@cascadia/receipts';
import { computeOutputDigest, computeRequestDigest, verifyMeshReceipt } from '@cascadia/receipts';
import { type FakeUpstream, sendJSON, signedReceipt, startUpstream } from '@cascadia/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CascadiaBlock,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  createClient,
  formatSSE,
  SSE_DONE,
} from '../src/index.js';
import { chunk } from './fixtures.js';

// A receipt signed with the receipts package still verifies after the client has parsed the response:
// the block (and the digests the receipt binds) survive the trip.
let upstream: FakeUpstream;
beforeAll(async () => {
  upstream = await startUpstream();
});
afterAll(async () => {
  await upstream.close();
});

const REQUEST: ChatCompletionRequest = {
  model: 'smollm2-135m-instruct',
  messages: [{ role: 'user', content: 'Say hello' }],
  stream_options: { include_usage: true },
};

describe('signed receipts through the client', () => {
  it('non-streamed: the cascadia block verifies, and the request the server saw matches request_digest', async () => {
    const { receipt, keys } = await signedReceipt(REQUEST, 'Hello!');
    const block: ReceiptsCascadiaBlock = { node_ids: receipt.node_ids, receipt };
    // The receipts package's block type fits this package's structural one.
    const structural: CascadiaBlock = block;
    upstream.handle((_req, res) =>
      sendJSON(res, 200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: 'smollm2-135m-instruct',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
        usage: receipt.usage,
        cascadia: structural,
      }),
    );
    const completion = await createClient({ baseURL: upstream.baseURL }).chat.create(REQUEST);
    const result = await verifyMeshReceipt(completion.cascadia?.receipt, {
      keys,
      requestDigest: computeRequestDigest(JSON.parse(upstream.requests.at(-1)?.rawBody ?? '')),
      outputDigest: computeOutputDigest(completion.choices[0]?.message.content ?? ''),
    });
    expect(result).toMatchObject({ ok: true });
  });

  it('streamed: the final chunk carries a receipt that verifies against the concatenated text', async () => {
    const { receipt, keys } = await signedReceipt({ ...REQUEST, stream: true }, 'Hello!');
    upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(formatSSE(chunk('Hel')));
      res.write(formatSSE(chunk('lo!')));
      res.end(
        formatSSE(chunk(null, { usage: receipt.usage, cascadia: { node_ids: receipt.node_ids, receipt } })) +
          SSE_DONE,
      );
    });
    const chunks: ChatCompletionChunk[] = [];
    for await (const item of createClient({ baseURL: upstream.baseURL }).stream(REQUEST)) chunks.push(item);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    const final = chunks.at(-1);
    expect(final?.usage).toEqual(receipt.usage);
    const result = await verifyMeshReceipt(final?.cascadia?.receipt, {
      keys,
      requestDigest: computeRequestDigest(JSON.parse(upstream.requests.at(-1)?.rawBody ?? '')),
      outputDigest: computeOutputDigest(text),
    });
    expect(result).toEqual({ ok: true, receipt: final?.cascadia?.receipt });
    // And a changed byte in the block would not: the check above can fail.
    const tampered = { ...final?.cascadia?.receipt, request_id: 'req-other' };
    expect(await verifyMeshReceipt(tampered, { keys })).toMatchObject({ ok: false, reason: 'bad_signature' });
  });
});
