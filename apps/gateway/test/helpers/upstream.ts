// A small OpenAI-compatible server on 127.0.0.1 for tests and the benchmark. The upstream model
// name picks a behaviour (see `behaviour`); every call returns a `cascadia` block like the mesh.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MockUpstream {
  url: string;
  /** Bodies received, in order (none kept with `keepRequests: false`). */
  requests: Record<string, unknown>[];
  /** Streams whose client (the gateway) went away before the end. */
  abortedStreams: number;
  close(): Promise<void>;
}

export const MOCK_NODE_IDS = ['node-alpha', 'node-beta'];

function words(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function promptWords(body: Record<string, unknown>): number {
  if (Array.isArray(body.messages)) {
    return body.messages.reduce<number>(
      (n, m) => n + words(String((m as { content?: unknown }).content ?? '')),
      0,
    );
  }
  return words(String(body.prompt ?? ''));
}

function receipt(requestId: string, model: string, prompt: number, completion: number) {
  return {
    v: 1,
    kind: 'mesh',
    request_id: requestId,
    created_at: '2026-01-01T00:00:00.000Z',
    model_id: model,
    coordinator_id: 'coord-test',
    coordinator_public_key: 'A'.repeat(43),
    request_digest: '0'.repeat(64),
    output_digest: '1'.repeat(64),
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
    node_ids: MOCK_NODE_IDS,
    stages: [],
    signature: 'sig',
  };
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startMockUpstream(
  options: {
    streamDelayMs?: number;
    /** Keep every body received (tests read them); a benchmark's upstream serving 100,000s of calls does not. */
    keepRequests?: boolean;
  } = {},
): Promise<MockUpstream> {
  const requests: Record<string, unknown>[] = [];
  const keepRequests = options.keepRequests ?? true;
  let served = 0;
  const state = { abortedStreams: 0 };
  const server: Server = createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url?.endsWith('/models')) {
      return sendJson(res, 200, {
        object: 'list',
        data: [{ id: 'echo', object: 'model', created: 0, owned_by: 'mock' }],
      });
    }
    const body = await readBody(req);
    served++;
    if (keepRequests) requests.push(body);
    const model = String(body.model);
    const chat = req.url?.endsWith('/chat/completions') ?? false;
    const requestId = String(req.headers['x-request-id'] ?? 'none');
    if (model === 'fail-500')
      return sendJson(res, 500, {
        error: { message: 'engine exploded', type: 'server_error', param: null, code: null },
      });
    if (model === 'bad-request')
      return sendJson(res, 400, {
        error: {
          message: "'temperature' is out of range",
          type: 'invalid_request_error',
          param: 'temperature',
          code: null,
        },
      });
    if (model === 'unauthorized')
      return sendJson(res, 401, {
        error: { message: 'bad partner token', type: 'auth', param: null, code: null },
      });
    if (model === 'hang') return; // never answers

    const maxTokens = typeof body.max_tokens === 'number' ? body.max_tokens : 8;
    const slow = model === 'slow';
    const produced = slow ? 200 : Math.min(maxTokens, 8);
    // 'overrun' reports more completion tokens than it was allowed (a misbehaving upstream).
    const reported = model === 'overrun' ? maxTokens * 3 : produced;
    const prompt = promptWords(body) + 3;
    const usage = { prompt_tokens: prompt, completion_tokens: reported, total_tokens: prompt + reported };
    const cascadia = { node_ids: MOCK_NODE_IDS, receipt: receipt(requestId, model, prompt, reported) };
    const withUsage = model !== 'no-usage';
    const id = `cmpl-${served}`;
    const text = Array.from({ length: produced }, (_, i) => `tok${i} `);

    if (body.stream !== true) {
      const choice = chat
        ? { index: 0, message: { role: 'assistant', content: text.join('') }, finish_reason: 'length' }
        : { index: 0, text: text.join(''), finish_reason: 'length' };
      return sendJson(res, 200, {
        id,
        object: chat ? 'chat.completion' : 'text_completion',
        created: 1,
        model,
        choices: [choice],
        ...(withUsage ? { usage } : {}),
        cascadia,
        x_unknown_field: { kept: true },
      });
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let closed = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        closed = true;
        state.abortedStreams++;
      }
    });
    const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
    const delay = slow ? 10 : (options.streamDelayMs ?? 0);
    for (let i = 0; i < produced && !closed; i++) {
      const choice = chat
        ? { index: 0, delta: i === 0 ? { role: 'assistant', content: text[i] } : { content: text[i] } }
        : { index: 0, text: text[i] };
      send({
        id,
        object: chat ? 'chat.completion.chunk' : 'text_completion',
        created: 1,
        model,
        choices: [choice],
      });
      if (delay) await new Promise((r) => setTimeout(r, delay));
    }
    if (closed) return;
    const includeUsage =
      (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    if (withUsage && includeUsage) {
      send({
        id,
        object: chat ? 'chat.completion.chunk' : 'text_completion',
        created: 1,
        model,
        choices: [],
        usage,
        cascadia,
      });
    }
    res.end('data: [DONE]\n\n');
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    get abortedStreams() {
      return state.abortedStreams;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
