// One metered call: admit (auth already done), reserve, forward, relay, settle. Every path after a
// successful reservation settles exactly once: charged to the metered cost, or refunded.
import { performance } from 'node:perf_hooks';
// The SSE module alone: the package index also loads its client and the `openai` SDK.
import { SSEDecoder } from '@cascadia/openai/sse';
import { type ResolvedModel, UnknownModelError, UpstreamUnavailableError } from '@cascadia/providers';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors, GatewayError } from '../errors.js';
import { estimateCall, requestedMaxTokens } from '../estimate.js';
import { requestsCounter } from '../metrics.js';
import { costNano, nanoToUsd, type Price } from '../money.js';
import { isUnpricedAllowed } from '../settings.js';
import type { KeyRecord, SettleRequest, UsageStatus } from '../store/types.js';
import { approxPromptTokens } from '../tokens.js';
import { UpstreamClient } from '../upstream-fetch.js';
import { type Metered, meterJson, StreamMeter } from './metering.js';
import type { CallBody } from './request-schemas.js';
import { answerFromMessage, answerFromResponse, type UpstreamAnswer } from './upstream-answer.js';

/** Sends the providers' prepared requests (keep-alive connections shared by every call). */
const relayClient = new UpstreamClient();

export type Endpoint = 'chat.completions' | 'completions';

/** `*` allows everything; `prefix*` allows models starting with prefix; otherwise exact names. */
export function modelAllowed(allowed: string[] | null, model: string): boolean {
  if (allowed === null) return true;
  return allowed.some((entry) =>
    entry.endsWith('*') ? model.startsWith(entry.slice(0, -1)) : entry === model,
  );
}

const usd = (nano: number) => `$${nanoToUsd(nano).toFixed(6)}`;

interface CallContext {
  app: FastifyInstance;
  request: FastifyRequest;
  key: KeyRecord;
  body: CallBody;
  endpoint: Endpoint;
  resolved: ResolvedModel;
  price: Price | null;
  reservedNusd: number;
  startedAt: number;
  createdAt: number;
  stream: boolean;
}

interface Outcome {
  status: UsageStatus;
  httpStatus: number;
  metered: Metered | null;
  ttftMs: number | null;
  error: string | null;
}

/**
 * A transient database error must not turn a served call into an unmetered one (its reservation
 * would expire and refund it), so settling is retried. Retrying is safe: the ledger row's primary
 * key is the request id, so a settlement that did commit makes the retry fail instead of charging
 * twice.
 */
async function settleWithRetry(app: FastifyInstance, request: SettleRequest): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await app.store.settle(request);
      return;
    } catch (error) {
      if (attempt >= 3) throw error;
      app.log.warn({ err: error, request_id: request.reservationId, attempt }, 'settle failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt * attempt));
    }
  }
}

/** Charges the metered cost (or refunds) and writes the ledger row, then records metrics and the log line. */
async function settle(ctx: CallContext, outcome: Outcome): Promise<void> {
  (await charge(ctx, outcome))();
}

/**
 * Charges the metered cost (or refunds) and writes the ledger row; returns what records the call's
 * metrics and log line, which a successful call runs once its response is on its way (they need
 * not delay it).
 */
async function charge(ctx: CallContext, outcome: Outcome): Promise<() => void> {
  const { app, key, resolved } = ctx;
  const prompt = outcome.metered?.promptTokens ?? 0;
  const completion = outcome.metered?.completionTokens ?? 0;
  const cost = ctx.price ? costNano(ctx.price, prompt, completion) : 0;
  const latencyMs = Math.round(performance.now() - ctx.startedAt);
  const model = ctx.body.model;
  await settleWithRetry(app, {
    reservationId: ctx.request.id,
    keyId: key.id,
    ownerId: key.ownerId,
    costNusd: cost,
    row: {
      createdAt: ctx.createdAt,
      model,
      provider: resolved.providerName,
      upstreamModel: resolved.upstreamModel,
      endpoint: ctx.endpoint,
      stream: ctx.stream,
      promptTokens: prompt,
      completionTokens: completion,
      reservedNusd: ctx.reservedNusd,
      latencyMs,
      ttftMs: outcome.ttftMs,
      status: outcome.status,
      httpStatus: outcome.httpStatus,
      meteredBy: outcome.metered?.source ?? 'none',
      nodeIds: outcome.metered?.nodeIds ?? null,
      receiptDigest: outcome.metered?.receiptDigest ?? null,
      error: outcome.error,
    },
  });
  return () => record(ctx, outcome, prompt, completion, cost, latencyMs);
}

function record(
  ctx: CallContext,
  outcome: Outcome,
  prompt: number,
  completion: number,
  cost: number,
  latencyMs: number,
): void {
  const { app, key, resolved } = ctx;
  const model = ctx.body.model;
  if (ctx.request.raw.destroyed || ctx.stream) {
    // Streams are hijacked (no onResponse hook), so they are counted here.
    requestsCounter(app.metrics, model, outcome.httpStatus).inc();
    ctx.request.requestCounted = true;
  }
  const m = app.metrics.perModel(model);
  if (prompt) m.promptTokens.inc(prompt);
  if (completion) m.completionTokens.inc(completion);
  if (cost) m.cost.inc(nanoToUsd(cost));
  (ctx.stream ? m.latency.stream : m.latency.plain).observe(latencyMs / 1000);
  if (outcome.ttftMs !== null) m.ttft.observe(outcome.ttftMs / 1000);
  if (key.tpmLimit !== null) app.rateLimiter.recordTokens(key.id, prompt + completion);
  app.callLog?.info(
    {
      request_id: ctx.request.id,
      key_id: key.id,
      model,
      provider: resolved.providerName,
      status: outcome.status,
      http_status: outcome.httpStatus,
      prompt_tokens: prompt,
      completion_tokens: completion,
      cost_usd: nanoToUsd(cost),
      latency_ms: latencyMs,
      ttft_ms: outcome.ttftMs,
      metered_by: outcome.metered?.source ?? 'none',
    },
    'call settled',
  );
}

/** The body sent upstream: the client's, plus include_usage on streams and a completion cap. */
function upstreamBody(
  body: CallBody,
  stream: boolean,
  settings: FastifyInstance['settings'],
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  if (stream) {
    const options =
      typeof body.stream_options === 'object' && body.stream_options !== null ? body.stream_options : {};
    out.stream_options = { ...options, include_usage: true };
  }
  if (settings.injectMaxTokens && requestedMaxTokens(body) === undefined)
    out.max_tokens = settings.defaultMaxTokens;
  return out;
}

async function readErrorMessage(answer: UpstreamAnswer): Promise<{ text: string; message: string }> {
  const text = await answer.bytes().then(
    (bytes) => bytes.toString('utf8'),
    () => '',
  );
  let message = text.slice(0, 500);
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof parsed.error === 'object' && typeof parsed.error?.message === 'string')
      message = parsed.error.message;
    else if (typeof parsed.error === 'string') message = parsed.error;
    else if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: keep the (truncated) text
  }
  return { text, message };
}

function isOpenAIError(text: string): boolean {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    return typeof parsed.error?.message === 'string';
  } catch {
    return false;
  }
}

export async function handleCall(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  endpoint: Endpoint,
  body: CallBody,
): Promise<FastifyReply | undefined> {
  const startedAt = performance.now();
  const createdAt = Date.now();
  const key = request.virtualKey!;
  const { settings, metrics } = app;
  const model = body.model;

  let resolved: ResolvedModel;
  try {
    resolved = app.registry.resolve(model);
  } catch (error) {
    if (error instanceof UnknownModelError) throw errors.modelNotFound(model);
    throw error;
  }
  if (!modelAllowed(key.models, model)) throw errors.modelNotAllowed(model);

  const price = app.pricing.current([model, `${resolved.providerName}:${resolved.upstreamModel}`]);
  if (!price && !isUnpricedAllowed(settings, model)) {
    metrics.budgetRejections.inc({ reason: 'unpriced' });
    throw errors.modelUnpriced(model);
  }
  // Only models that are routed and priced (or explicitly allowed) become metric labels, so
  // arbitrary model strings cannot grow the label set.
  request.callModel = model;

  const rate = app.rateLimiter.admit(key.id, { rpm: key.rpmLimit, tpm: key.tpmLimit });
  if (!rate.ok) {
    metrics.rateLimitHits.inc({ limit: rate.limit });
    throw errors.rateLimited(rate.limit, rate.max, rate.retryAfterSeconds);
  }

  const estimate = estimateCall(body, request.bodyBytes, price, settings);
  const reservation = await app.store.reserve({
    id: request.id,
    keyId: key.id,
    ownerId: key.ownerId,
    amountNusd: estimate.costNusd,
    ttlMs: settings.reservationTtlMs,
  });
  if (!reservation.ok) {
    metrics.budgetRejections.inc({ reason: `${reservation.scope}_budget` });
    const b = reservation.budget;
    const who = reservation.scope === 'key' ? `key '${key.alias}'` : `owner '${key.ownerId}'`;
    throw errors.budgetExceeded(
      `Budget exceeded for ${who}: ${usd(b.spentNusd)} spent and ${usd(b.reservedNusd)} reserved of ${usd(b.maxNusd ?? 0)}; ` +
        `this request may cost up to ${usd(estimate.costNusd)} (${estimate.promptTokens} prompt + ${estimate.completionTokens} completion tokens at most). ` +
        'Lower max_tokens or ask for a larger budget.',
    );
  }

  const stream = body.stream === true;
  const ctx: CallContext = {
    app,
    request,
    key,
    body,
    endpoint,
    resolved,
    price,
    reservedNusd: estimate.costNusd,
    startedAt,
    createdAt,
    stream,
  };
  const countedPrompt = approxPromptTokens(body);
  // A plain timer cleared when the call ends (AbortSignal.timeout would keep one alive per call for
  // the whole deadline, which adds up at thousands of calls per second).
  const deadlineController = new AbortController();
  const deadlineTimer = setTimeout(
    () => deadlineController.abort(new DOMException('upstream deadline exceeded', 'TimeoutError')),
    settings.upstreamTimeoutMs,
  );
  const deadline = deadlineController.signal;
  try {
    return await forwardAndSettle(ctx, reply, deadline, countedPrompt, estimate.completionTokens);
  } finally {
    clearTimeout(deadlineTimer);
  }
}

async function forwardAndSettle(
  ctx: CallContext,
  reply: FastifyReply,
  deadline: AbortSignal,
  countedPrompt: number,
  completionCap: number,
): Promise<FastifyReply | undefined> {
  const { app, body, resolved, stream } = ctx;
  const { settings, metrics } = app;
  // Non-streamed calls run to completion even if the client leaves, so they are metered exactly;
  // streams are cut when the client leaves, and what was produced is counted.
  const clientGone = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) clientGone.abort(new Error('client closed the connection'));
  });
  const signal = stream ? AbortSignal.any([deadline, clientGone.signal]) : deadline;

  let response: UpstreamAnswer;
  try {
    response = await callUpstream(ctx, upstreamBody(body, stream, settings), signal);
  } catch (error) {
    const failure = classifyFailure(
      error,
      deadline,
      clientGone.signal,
      resolved.providerName,
      settings.upstreamTimeoutMs,
    );
    metrics.upstreamErrors.inc({ provider: resolved.providerName, kind: failure.kind });
    await settle(ctx, {
      status: failure.kind === 'client_closed' ? 'client_closed' : 'upstream_error',
      httpStatus: failure.error.statusCode,
      metered: null,
      ttftMs: null,
      error: failure.error.message,
    });
    throw failure.error;
  }

  if (response.status < 200 || response.status > 299) {
    const { text, message } = await readErrorMessage(response);
    metrics.upstreamErrors.inc({ provider: resolved.providerName, kind: `http_${response.status}` });
    let error: GatewayError | null = null;
    if (response.status === 401 || response.status === 403 || response.status === 407) {
      error = errors.upstream(
        `Upstream provider '${resolved.providerName}' rejected the gateway's credentials (HTTP ${response.status}).`,
      );
    } else if (response.status >= 500) {
      error = errors.upstream(
        `Upstream provider '${resolved.providerName}' failed with HTTP ${response.status}: ${message}`,
        response.status === 504 ? 504 : 502,
        response.status === 504 ? 'upstream_timeout' : 'upstream_error',
      );
    }
    const httpStatus = error?.statusCode ?? response.status;
    await settle(ctx, { status: 'upstream_error', httpStatus, metered: null, ttftMs: null, error: message });
    if (error) throw error;
    // A client error the upstream found (bad parameter, context too long...): passed through.
    const retryAfter = response.header('retry-after');
    if (retryAfter) reply.header('retry-after', retryAfter);
    reply.code(response.status).header('content-type', 'application/json');
    if (isOpenAIError(text)) return reply.send(text);
    return reply.send(
      new GatewayError(
        response.status,
        'upstream_error',
        'upstream_error',
        `Upstream provider '${resolved.providerName}': ${message}`,
      ).body(),
    );
  }

  const contentType = response.header('content-type') ?? 'application/json';
  if (stream && contentType.includes('text/event-stream')) {
    await relayStream(ctx, reply, response, contentType, countedPrompt, deadline, clientGone.signal);
    return undefined;
  }

  let bytes: Buffer;
  try {
    bytes = await response.bytes();
  } catch (error) {
    const failure = classifyFailure(
      error,
      deadline,
      clientGone.signal,
      resolved.providerName,
      settings.upstreamTimeoutMs,
    );
    metrics.upstreamErrors.inc({ provider: resolved.providerName, kind: 'body_aborted' });
    // The upstream was working on it: charge the reservation rather than nothing.
    await settle(ctx, {
      status: 'upstream_error',
      httpStatus: failure.error.statusCode,
      metered: {
        promptTokens: countedPrompt,
        completionTokens: completionCap,
        source: 'counted',
        nodeIds: null,
        receiptDigest: null,
      },
      ttftMs: null,
      error: failure.error.message,
    });
    throw failure.error;
  }
  const metered = meterJson(bytes, countedPrompt);
  const recordCall = await charge(ctx, {
    status: reply.raw.destroyed ? 'client_closed' : 'ok',
    httpStatus: response.status,
    metered,
    ttftMs: null,
    error: null,
  });
  const sent = reply.code(response.status).header('content-type', contentType).send(bytes);
  recordCall();
  return sent;
}

/**
 * The upstream call: the provider prepares it (URL, credentials, headers, body) and the relay sends
 * it on node:http; a provider that post-processes responses is called through its own client.
 */
async function callUpstream(
  ctx: CallContext,
  payload: Record<string, unknown>,
  signal: AbortSignal,
): Promise<UpstreamAnswer> {
  const { provider } = ctx.resolved;
  const init = { signal, headers: { 'x-request-id': ctx.request.id } };
  const path = ctx.endpoint === 'chat.completions' ? 'chat/completions' : 'completions';
  const prepared = provider.prepareCall?.(path, payload, init) ?? null;
  if (!prepared) {
    return answerFromResponse(
      ctx.endpoint === 'chat.completions'
        ? await provider.chatCompletions(payload, init)
        : await provider.completions(payload, init),
    );
  }
  // The provider's response-header timeout, if it has one (the body may stream longer).
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let sendSignal = signal;
  if (prepared.timeoutMs !== undefined) {
    const headersDeadline = new AbortController();
    timer = setTimeout(() => {
      timedOut = true;
      headersDeadline.abort(new DOMException('upstream response timed out', 'TimeoutError'));
    }, prepared.timeoutMs);
    sendSignal = AbortSignal.any([signal, headersDeadline.signal]);
  }
  try {
    const answer = relayClient.send(prepared.url, {
      method: prepared.method,
      headers: prepared.headers,
      body: prepared.body,
      signal: sendSignal,
    });
    ctx.app.store.upstreamWaiting?.();
    return answerFromMessage(await answer);
  } catch (error) {
    if (signal.aborted) throw error;
    throw prepared.failure(error, timedOut);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function classifyFailure(
  error: unknown,
  deadline: AbortSignal,
  clientGone: AbortSignal,
  provider: string,
  timeoutMs: number,
): { kind: string; error: GatewayError } {
  if (error instanceof UpstreamUnavailableError) {
    return {
      kind: error.reason === 'timeout' ? 'timeout' : 'unavailable',
      error: errors.upstream(
        error.message,
        error.httpStatus,
        error.httpStatus === 504 ? 'upstream_timeout' : 'upstream_unavailable',
      ),
    };
  }
  if (deadline.aborted) {
    return {
      kind: 'timeout',
      error: errors.upstream(
        `Upstream provider '${provider}' did not finish within ${timeoutMs} ms.`,
        504,
        'upstream_timeout',
      ),
    };
  }
  if (clientGone.aborted) {
    return {
      kind: 'client_closed',
      error: new GatewayError(499, 'client_closed', 'client_closed', 'Client closed the request.'),
    };
  }
  return {
    kind: 'unavailable',
    error: errors.upstream(
      `Upstream provider '${provider}' failed: ${error instanceof Error ? error.message : String(error)}`,
    ),
  };
}

const DONE = Buffer.from('[DONE]');

/**
 * Where the line of the `[DONE]` event starts in the chunk that completed it (the decoder saw it
 * there): the last `[DONE]` in the chunk, back to its line's start; 0 if it began in an earlier chunk.
 */
function doneLineStart(chunk: Uint8Array): number {
  const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const at = bytes.lastIndexOf(DONE);
  return at <= 0 ? 0 : bytes.lastIndexOf(0x0a, at) + 1;
}

/**
 * Relays the upstream's SSE bytes unchanged as they arrive, metering on the side. Once the stream's
 * `[DONE]` event has arrived the call is complete: its settlement starts at once (while the
 * upstream closes), and that event's line (with anything after it) is written together with the
 * response's end after the settlement committed, so the client never sees the end of a stream that
 * is not settled. Everything before it goes out as it arrives.
 */
async function relayStream(
  ctx: CallContext,
  reply: FastifyReply,
  response: UpstreamAnswer,
  contentType: string,
  countedPrompt: number,
  deadline: AbortSignal,
  clientGone: AbortSignal,
): Promise<void> {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(response.status, {
    'content-type': contentType,
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    'x-request-id': ctx.request.id,
  });
  // The headers go out with the first bytes when those came with the upstream's headers (one
  // write instead of two); otherwise at once, so the client sees the stream start while the
  // upstream is still working.
  if (!response.bodyWaiting()) raw.flushHeaders();
  const meter = new StreamMeter();
  const decoder = new SSEDecoder();
  let status: UsageStatus = 'ok';
  let httpStatus = response.status;
  let error: string | null = null;
  let settled: Promise<(() => void) | null> | null = null;
  let tail: Uint8Array[] | null = null;
  const settleStream = () => {
    const ttftMs = meter.firstTokenAt === null ? null : Math.round(meter.firstTokenAt - ctx.startedAt);
    return charge(ctx, { status, httpStatus, metered: meter.result(countedPrompt), ttftMs, error }).catch(
      (settleError: unknown) => {
        ctx.request.log.error(
          { err: settleError, request_id: ctx.request.id },
          'settling a streamed call failed; its reservation will expire',
        );
        return null;
      },
    );
  };
  try {
    for await (const value of response.chunks()) {
      const now = performance.now();
      for (const event of decoder.push(value)) meter.onEvent(event, now);
      if (tail) {
        tail.push(value);
        continue;
      }
      let bytes = value;
      if (meter.done) {
        // What comes before the `[DONE]` line goes out now; that line waits for the settlement.
        const from = doneLineStart(value);
        tail = [value.subarray(from)];
        settled = settleStream();
        if (from === 0) continue;
        bytes = value.subarray(0, from);
      }
      if (!raw.write(bytes)) {
        await new Promise<void>((resolve) => {
          const finish = () => {
            raw.off('drain', finish);
            raw.off('close', finish);
            resolve();
          };
          raw.on('drain', finish);
          raw.on('close', finish);
        });
      }
      if (raw.destroyed) throw new Error('client closed the connection');
    }
    for (const event of decoder.end()) meter.onEvent(event, performance.now());
    if (!meter.done) status = 'incomplete';
  } catch (cause) {
    // Leaving the loop by an exception closed the upstream response. After `[DONE]` the call was
    // complete and is settling as such.
    if (settled === null) {
      if (clientGone.aborted || raw.destroyed) {
        status = 'client_closed';
        httpStatus = 499;
        error = 'client closed the stream';
      } else {
        status = 'upstream_error';
        httpStatus = deadline.aborted ? 504 : 502;
        error = deadline.aborted ? 'stream exceeded the upstream deadline' : `stream broke: ${String(cause)}`;
        ctx.app.metrics.upstreamErrors.inc({ provider: ctx.resolved.providerName, kind: 'stream_aborted' });
      }
    }
  }
  const recordCall = await (settled ?? settleStream());
  if (!raw.destroyed) {
    if (tail) raw.end(tail.length === 1 ? tail[0] : Buffer.concat(tail));
    else raw.end();
  }
  recordCall?.();
}
