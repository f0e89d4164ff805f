/**
 * `/api/chat`: one demo step. The browser names a demo and a step and sends the visitor's input and
 * the outputs of the step's dependencies; the messages are built here from the demo definition, the
 * gateway is called with the server-held key, and its SSE stream is relayed as it arrives (bytes
 * unchanged, so the `cascadia` block of the final chunk reaches the browser as the mesh signed it).
 */
import { ChatRequestSchema } from '../api-types';
import { buildStepMessages, findDemo, findStep } from '../demos';
import { validateJsonOutput } from '../json-output';
import { SseParser } from '../sse';
import type { ServerConfig } from './config';
import { describeGatewayFailure, describeNetworkFailure, errorResponse } from './errors';

/** Upper bound on a request body: the input and prior outputs limits plus JSON overhead. */
export const MAX_CHAT_BODY_BYTES = 32 * 1024;

export async function handleChat(request: Request, config: ServerConfig): Promise<Response> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_CHAT_BODY_BYTES)
    return errorResponse(413, 'body_too_large', 'The request is too large.');
  const raw = await request.text();
  if (Buffer.byteLength(raw) > MAX_CHAT_BODY_BYTES) {
    return errorResponse(413, 'body_too_large', 'The request is too large.');
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return errorResponse(400, 'invalid_json', 'The request body is not JSON.');
  }
  const parsed = ChatRequestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'body';
    return errorResponse(
      400,
      'invalid_request',
      `Invalid request: ${where}: ${issue?.message ?? 'invalid'}.`,
    );
  }
  const body = parsed.data;
  const demo = findDemo(body.demoId);
  if (!demo) return errorResponse(404, 'unknown_demo', `There is no demo "${body.demoId}".`);
  const step = findStep(demo, body.stepId);
  if (!step) return errorResponse(404, 'unknown_step', `The demo "${demo.id}" has no step "${body.stepId}".`);
  const extra = Object.keys(body.priorOutputs).filter((id) => !step.dependsOn.includes(id));
  if (extra.length > 0) {
    return errorResponse(
      400,
      'unexpected_outputs',
      `The step "${step.id}" does not read: ${extra.join(', ')}.`,
    );
  }
  const missing = step.dependsOn.filter((id) => body.priorOutputs[id] === undefined);
  if (missing.length > 0) {
    return errorResponse(
      400,
      'missing_outputs',
      `The step "${step.id}" needs the output of: ${missing.join(', ')}.`,
    );
  }
  for (const id of step.dependsOn) {
    const schema = findStep(demo, id)?.output?.schema;
    if (schema && !validateJsonOutput(body.priorOutputs[id] ?? '', schema).ok) {
      return errorResponse(
        400,
        'invalid_prior_output',
        `The output of "${id}" is not the JSON that step produces.`,
      );
    }
  }
  if (!config.virtualKey) {
    return errorResponse(
      503,
      'not_configured',
      'This deployment has no gateway key configured, so it cannot call the model.',
      'server_error',
    );
  }

  const messages = buildStepMessages(step, { input: body.input, outputs: body.priorOutputs }, body.attempt);
  const upstreamBody = {
    model: config.model,
    messages,
    max_tokens: step.maxTokens,
    temperature: body.variation ? 0.7 : 0,
    stream: true,
    stream_options: { include_usage: true },
    user: `web-demo:${demo.id}:${step.id}`,
  };

  let upstream: Response;
  try {
    upstream = await fetch(`${config.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${config.virtualKey}`,
        'content-type': 'application/json',
        accept: 'text/event-stream',
      },
      body: JSON.stringify(upstreamBody),
      signal: request.signal,
    });
  } catch (err) {
    if (request.signal.aborted) return errorResponse(499, 'aborted', 'The request was cancelled.');
    const failure = describeNetworkFailure(err, 'gateway');
    return errorResponse(failure.status, failure.code, failure.message, 'server_error');
  }
  const requestId = upstream.headers.get('x-request-id');
  if (!upstream.ok || !upstream.body) {
    const text = await upstream.text().catch(() => '');
    const failure = describeGatewayFailure(upstream.status, text, config.virtualKey);
    return errorResponse(failure.status, failure.code, failure.message, 'upstream_error');
  }
  const headers: Record<string, string> = {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  };
  if (requestId) headers['x-request-id'] = requestId;
  return new Response(relaySse(upstream.body, request.signal), { status: 200, headers });
}

/**
 * Passes the upstream bytes through as they arrive. A parser watches the events only to notice a
 * stream that ends early or breaks: then an `error` event (starting on an event boundary) tells the
 * browser what happened instead of leaving it waiting.
 */
export function relaySse(
  upstream: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): ReadableStream<Uint8Array> {
  const reader = upstream.getReader();
  const parser = new SseParser();
  const encoder = new TextEncoder();
  let pendingBytes = 0;
  let finished = false;
  const failWith = (
    controller: ReadableStreamDefaultController<Uint8Array>,
    code: string,
    message: string,
  ) => {
    const lead = pendingBytes > 0 ? '\n\n' : '';
    const data = JSON.stringify({ error: { message, type: 'upstream_error', param: null, code } });
    controller.enqueue(encoder.encode(`${lead}event: error\ndata: ${data}\n\n`));
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await reader.read();
        if (done) {
          if (!finished) {
            failWith(
              controller,
              'stream_incomplete',
              'The mesh stopped the stream before the model finished.',
            );
          }
          controller.close();
          return;
        }
        controller.enqueue(value);
        const events = parser.push(value);
        pendingBytes = parser.pendingLength();
        for (const event of events) {
          if (event.data === '[DONE]') finished = true;
        }
      } catch (err) {
        if (!signal?.aborted) {
          failWith(
            controller,
            'stream_broken',
            `The stream from the gateway broke off (${(err as Error).message}).`,
          );
        }
        controller.close();
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
