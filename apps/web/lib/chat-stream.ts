/**
 * The browser side of one step: POST to `/api/chat`, read the relayed SSE stream, report tokens as
 * they arrive, and return the text, usage and `cascadia` block of the final chunk.
 */
import type { ApiErrorBody, CascadiaBlock, ChatRequest, Usage } from './api-types';
import { SseParser } from './sse';

export interface StepCallResult {
  text: string;
  model: string | null;
  usage: Usage | null;
  cascadia: CascadiaBlock | null;
  /** The gateway's id for the call (`x-request-id`), which its usage ledger rows carry. */
  gatewayRequestId: string | null;
  finishReason: string | null;
  startedAt: number;
  firstTokenAt: number | null;
  finishedAt: number;
}

/** An error a visitor can read: the message comes from the route or is written here, never a stack. */
export class StepCallError extends Error {
  override name = 'StepCallError';
  constructor(
    message: string,
    readonly code: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

interface ChunkLike {
  model?: string;
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: Usage | null;
  cascadia?: CascadiaBlock;
  error?: ApiErrorBody['error'];
}

export async function callStep(
  request: ChatRequest,
  opts: { signal?: AbortSignal; onDelta?: (delta: string, text: string) => void; fetch?: typeof fetch } = {},
): Promise<StepCallResult> {
  const doFetch = opts.fetch ?? fetch;
  const startedAt = Date.now();
  let response: Response;
  try {
    response = await doFetch('/api/chat', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal: opts.signal,
    });
  } catch (err) {
    if (opts.signal?.aborted) throw new StepCallError('Stopped.', 'aborted', null);
    throw new StepCallError(
      `Could not reach this app's server (${(err as Error).message}).`,
      'network',
      null,
    );
  }
  if (!response.ok || !response.body) {
    throw await errorFromResponse(response);
  }
  return readChatStream(response.body, {
    startedAt,
    gatewayRequestId: response.headers.get('x-request-id'),
    signal: opts.signal,
    onDelta: opts.onDelta,
  });
}

async function errorFromResponse(response: Response): Promise<StepCallError> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as Partial<ApiErrorBody>;
    if (body.error?.message) {
      return new StepCallError(body.error.message, body.error.code ?? body.error.type, response.status);
    }
  } catch {
    // not JSON: fall through to a generic message
  }
  return new StepCallError(`The server answered ${response.status}.`, 'http_error', response.status);
}

export async function readChatStream(
  body: ReadableStream<Uint8Array>,
  opts: {
    startedAt?: number;
    gatewayRequestId?: string | null;
    signal?: AbortSignal;
    onDelta?: (delta: string, text: string) => void;
  } = {},
): Promise<StepCallResult> {
  const result: StepCallResult = {
    text: '',
    model: null,
    usage: null,
    cascadia: null,
    gatewayRequestId: opts.gatewayRequestId ?? null,
    finishReason: null,
    startedAt: opts.startedAt ?? Date.now(),
    firstTokenAt: null,
    finishedAt: 0,
  };
  const parser = new SseParser();
  const reader = body.getReader();
  let done = false;
  const handle = (data: string, event: string | undefined) => {
    if (data === '[DONE]') {
      done = true;
      return;
    }
    let chunk: ChunkLike;
    try {
      chunk = JSON.parse(data) as ChunkLike;
    } catch {
      throw new StepCallError('The stream carried data that is not JSON.', 'bad_stream', null);
    }
    if (event === 'error' || chunk.error) {
      const error = chunk.error;
      throw new StepCallError(
        error?.message ?? 'The stream ended with an error.',
        error?.code ?? error?.type ?? 'stream_error',
        null,
      );
    }
    if (chunk.model) result.model = chunk.model;
    for (const choice of chunk.choices ?? []) {
      const delta = choice.delta?.content;
      if (delta) {
        result.firstTokenAt ??= Date.now();
        result.text += delta;
        opts.onDelta?.(delta, result.text);
      }
      if (choice.finish_reason) result.finishReason = choice.finish_reason;
    }
    if (chunk.usage) result.usage = chunk.usage;
    if (chunk.cascadia) result.cascadia = chunk.cascadia;
  };
  try {
    while (!done) {
      const { value, done: ended } = await reader.read();
      const events = ended ? parser.flush() : parser.push(value);
      for (const event of events) handle(event.data, event.event);
      if (ended) break;
    }
  } catch (err) {
    if (opts.signal?.aborted) throw new StepCallError('Stopped.', 'aborted', null);
    if (err instanceof StepCallError) throw err;
    throw new StepCallError(`The stream broke off (${(err as Error).message}).`, 'stream_broken', null);
  } finally {
    reader.cancel().catch(() => {});
  }
  if (!done && result.usage === null) {
    throw new StepCallError('The stream ended before the model finished.', 'stream_incomplete', null);
  }
  result.finishedAt = Date.now();
  return result;
}
