// What the provider layer adds to an upstream call: the same local upstream called with plain fetch
// and through registry.resolve + provider.chatCompletions, non-streamed and streamed.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { compare } from '@cascadia/test-support';
import { afterAll, beforeAll, it } from 'vitest';
import { createCascadiaProvider, createProviderRegistry } from '../src/index.js';

const completion = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1,
  model: 'smollm2-135m-instruct',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there!' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
});
const stream = `${Array.from({ length: 32 }, (_, i) => `data: {"choices":[{"index":0,"delta":{"content":"t${i}"}}]}\n\n`).join('')}data: [DONE]\n\n`;

const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => {
    body += chunk.toString();
  });
  req.on('end', () => {
    const streamed = body.includes('"stream":true');
    res.writeHead(200, { 'content-type': streamed ? 'text/event-stream' : 'application/json' });
    res.end(streamed ? stream : completion);
  });
});
let baseURL = '';
let registry: ReturnType<typeof createProviderRegistry>;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  registry = createProviderRegistry({ providers: [createCascadiaProvider({ baseURL })] });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const body = { model: 'cascadia:smollm2-135m-instruct', messages: [{ role: 'user', content: 'Hi' }] };

async function plain(payload: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...payload, model: 'smollm2-135m-instruct' }),
  });
  await res.arrayBuffer();
}

async function viaProvider(payload: Record<string, unknown>): Promise<void> {
  const res = await registry.resolve(String(payload.model)).provider.chatCompletions(payload);
  await res.arrayBuffer();
}

it('provider overhead against a local upstream', async () => {
  const streamed = { ...body, stream: true };
  const lines: string[] = [];
  for (const [name, payload] of [
    ['non-streamed chat completion', body],
    ['streamed chat completion, 32 chunks', streamed],
  ] as const) {
    console.log(`\n${name} (best of 5 alternating rounds)`);
    const best = await compare({
      'plain fetch': () => plain(payload),
      'registry.resolve + provider': () => viaProvider(payload),
    });
    const overhead = (best['registry.resolve + provider']! - best['plain fetch']!) * 1000;
    lines.push(`${name}: provider overhead ${overhead.toFixed(0)} µs per call`);
  }
  console.log(`\n${lines.join('\n')}`);
});
