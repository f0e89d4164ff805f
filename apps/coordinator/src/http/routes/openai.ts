/**
 * The OpenAI-compatible surface: /v1/chat/completions, /v1/completions (streaming SSE and not) and
 * /v1/models. Every completion carries the `cascadia` block (node ids in pipeline order + signed
 * MeshReceipt): top-level when not streaming, in the final chunk (beside `usage`) when streaming.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { SamplingParams, Tokenizer } from '../../mesh/engine-binding.js';
import { MeshError } from '../../mesh/errors.js';
import { type CompletionOutcome, SessionLimitError } from '../../mesh/mesh-service.js';
import { ApiError, invalidRequest, sendError } from '../errors.js';
import {
  ChatCompletionBody,
  CompletionBody,
  describeIssue,
  messageText,
  type SamplingFields,
} from '../request-schema.js';

export interface OpenAIRoutesOptions {
  /** default max_tokens when the request sets none (also capped by the context window) */
  defaultMaxTokens?: number;
  /** longest accepted prompt, in tokens (also capped by the context window) */
  maxPromptTokens?: number;
}

type Kind = 'chat' | 'text';

interface PreparedJob {
  kind: Kind;
  id: string;
  created: number;
  model: string;
  body: unknown;
  promptTokens: number[];
  maxTokens: number;
  stop: string[];
  sampling: SamplingParams;
  tokenizer: Tokenizer;
  stream: boolean;
  includeUsage: boolean;
}

function meshFailure(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof SessionLimitError)
    return new ApiError(429, 'rate_limit_error', 'too_many_sessions', error.message);
  if (error instanceof MeshError) {
    if (error.code === 'shutting_down')
      return new ApiError(503, 'service_unavailable', 'shutting_down', error.message);
    if (error.code === 'no_route' || error.code === 'no_tokenizer') {
      return new ApiError(503, 'service_unavailable', 'model_unavailable', error.message);
    }
    return new ApiError(503, 'service_unavailable', 'mesh_error', `generation failed: ${error.message}`);
  }
  return new ApiError(500, 'server_error', 'internal_error', 'internal error');
}

export const openAIRoutes = fp(
  async (app, opts: OpenAIRoutesOptions) => {
    const mesh = app.mesh;
    const defaultMaxTokens = opts.defaultMaxTokens ?? 512;
    const maxPromptTokens = opts.maxPromptTokens ?? Number.POSITIVE_INFINITY;

    app.get('/v1/models', async () => ({
      object: 'list',
      data: mesh.servableModels().map((id) => ({
        id,
        object: 'model',
        created: 0,
        owned_by: 'cascadia-mesh',
      })),
    }));

    async function prepare(kind: Kind, raw: unknown): Promise<PreparedJob> {
      const parsed = (kind === 'chat' ? ChatCompletionBody : CompletionBody).safeParse(raw);
      if (!parsed.success) {
        const { param, message } = describeIssue(parsed.error);
        throw invalidRequest(message, param);
      }
      const body = parsed.data as SamplingFields & {
        messages?: ChatCompletionBody['messages'];
        prompt?: string | string[];
      };
      const unsupported = unsupportedFeature(parsed.data as Record<string, unknown>);
      if (unsupported) throw invalidRequest(unsupported.message, unsupported.param, 'unsupported_parameter');
      if (!mesh.servableModels().includes(body.model)) {
        if (mesh.fleet.knowsModel(body.model)) {
          throw new ApiError(
            503,
            'service_unavailable',
            'model_unavailable',
            `No healthy pipeline of nodes serves '${body.model}' right now.`,
            'model',
          );
        }
        throw new ApiError(
          404,
          'invalid_request_error',
          'model_not_found',
          `The model '${body.model}' is not served by this mesh.`,
          'model',
        );
      }
      const tokenizer = await mesh.tokenizer(body.model);
      let promptText: string;
      if (kind === 'chat') {
        let messages: { role: string; content: string }[];
        try {
          messages = (body.messages ?? []).map((m) => ({
            role: m.role === 'developer' ? 'system' : m.role,
            content: messageText(m.content),
          }));
        } catch (error) {
          throw invalidRequest((error as Error).message, 'messages');
        }
        promptText = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
      } else {
        promptText = Array.isArray(body.prompt) ? (body.prompt[0] ?? '') : (body.prompt ?? '');
      }
      const promptTokens = tokenizer.encode(promptText);
      if (promptTokens.length === 0)
        throw invalidRequest('the prompt is empty', kind === 'chat' ? 'messages' : 'prompt');
      const context = mesh.maxContext(body.model);
      const promptLimit = Math.min(maxPromptTokens, context - 1);
      if (promptTokens.length > promptLimit) {
        throw invalidRequest(
          `The prompt has ${promptTokens.length} tokens; this mesh accepts at most ${promptLimit} (context window ${context}).`,
          kind === 'chat' ? 'messages' : 'prompt',
          'context_length_exceeded',
        );
      }
      const requested = body.max_completion_tokens ?? body.max_tokens ?? null;
      const room = context - promptTokens.length;
      if (requested !== null && requested > room) {
        throw invalidRequest(
          `max_tokens ${requested} plus the prompt's ${promptTokens.length} tokens exceed the context window of ${context}.`,
          body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens',
          'context_length_exceeded',
        );
      }
      const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
      const sampling: SamplingParams = { temperature: body.temperature ?? 1 };
      if (body.top_p != null) sampling.top_p = body.top_p;
      if (body.top_k != null) sampling.top_k = body.top_k;
      if (body.seed != null) sampling.seed = body.seed;
      if (body.frequency_penalty != null) sampling.frequency_penalty = body.frequency_penalty;
      if (body.presence_penalty != null) sampling.presence_penalty = body.presence_penalty;
      const prefix = kind === 'chat' ? 'chatcmpl' : 'cmpl';
      return {
        kind,
        id: `${prefix}-${randomBytes(12).toString('base64url')}`,
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        body: raw,
        promptTokens,
        maxTokens: requested ?? Math.min(defaultMaxTokens, room),
        stop: stop.filter((s) => s.length > 0),
        sampling,
        tokenizer,
        stream: body.stream === true,
        includeUsage: body.stream_options?.include_usage === true,
      };
    }

    async function handle(kind: Kind, request: FastifyRequest, reply: FastifyReply) {
      const endpoint = kind === 'chat' ? 'chat_completions' : 'completions';
      const started = performance.now();
      let job: PreparedJob;
      try {
        job = await prepare(kind, request.body);
        mesh.admit();
      } catch (error) {
        const apiError = meshFailure(error);
        app.metrics.requests.inc({ endpoint, status: String(apiError.status) });
        return sendError(reply, apiError);
      }
      const abort = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) abort.abort();
      };
      reply.raw.on('close', onClose);
      const run = (onText?: (delta: string) => void) =>
        mesh.complete({
          requestId: job.id,
          modelId: job.model,
          body: job.body,
          promptTokens: job.promptTokens,
          maxTokens: job.maxTokens,
          stop: job.stop,
          sampling: job.sampling,
          tokenizer: job.tokenizer,
          signal: abort.signal,
          ...(onText ? { onText } : {}),
          onFirstToken: () => app.metrics.ttft.observe((performance.now() - started) / 1000),
        });
      const account = (outcome: CompletionOutcome, status: number) => {
        app.metrics.requests.inc({ endpoint, status: String(status) });
        app.metrics.tokens.inc({ kind: 'prompt' }, outcome.usage.prompt_tokens);
        app.metrics.tokens.inc({ kind: 'completion' }, outcome.usage.completion_tokens);
        app.metrics.duration.observe((performance.now() - started) / 1000);
        if (outcome.replays) app.metrics.replays.inc(outcome.replays);
      };
      try {
        if (!job.stream) {
          let outcome: CompletionOutcome;
          try {
            outcome = await run();
          } catch (error) {
            const apiError = meshFailure(error);
            app.metrics.requests.inc({ endpoint, status: String(apiError.status) });
            request.log.warn({ request_id: job.id, reason: (error as Error).message }, 'generation failed');
            return sendError(reply, apiError);
          }
          account(outcome, 200);
          return reply.header('x-request-id', job.id).send(completionObject(job, outcome));
        }
        return await streamCompletion(job, reply, run, account, request);
      } finally {
        reply.raw.off('close', onClose);
        mesh.release();
      }
    }

    async function streamCompletion(
      job: PreparedJob,
      reply: FastifyReply,
      run: (onText: (delta: string) => void) => Promise<CompletionOutcome>,
      account: (outcome: CompletionOutcome, status: number) => void,
      request: FastifyRequest,
    ) {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': job.id,
      });
      const write = (value: unknown) => {
        if (!res.writableEnded && !res.destroyed) res.write(`data: ${JSON.stringify(value)}\n\n`);
      };
      const chunk = (delta: string | null, finish: string | null, extra: Record<string, unknown> = {}) =>
        job.kind === 'chat'
          ? {
              id: job.id,
              object: 'chat.completion.chunk',
              created: job.created,
              model: job.model,
              choices: [
                {
                  index: 0,
                  delta:
                    delta === null
                      ? {}
                      : extra.first
                        ? { role: 'assistant', content: delta }
                        : { content: delta },
                  logprobs: null,
                  finish_reason: finish,
                },
              ],
            }
          : {
              id: job.id,
              object: 'text_completion',
              created: job.created,
              model: job.model,
              choices: [{ index: 0, text: delta ?? '', logprobs: null, finish_reason: finish }],
            };
      if (job.kind === 'chat') write(chunk('', null, { first: true }));
      try {
        const outcome = await run((delta) => write(chunk(delta, null)));
        account(outcome, 200);
        const cascadia = { node_ids: outcome.nodeIds, receipt: outcome.receipt };
        if (job.includeUsage) {
          write(chunk(null, outcome.finishReason));
          write({ ...chunk(null, null), choices: [], usage: outcome.usage, cascadia });
        } else {
          write({ ...chunk(null, outcome.finishReason), cascadia });
        }
      } catch (error) {
        const apiError = meshFailure(error);
        app.metrics.requests.inc({
          endpoint: job.kind === 'chat' ? 'chat_completions' : 'completions',
          status: String(apiError.status),
        });
        request.log.warn(
          { request_id: job.id, reason: (error as Error).message },
          'streamed generation failed',
        );
        write(apiError.toBody());
      }
      if (!res.writableEnded && !res.destroyed) res.end('data: [DONE]\n\n');
    }

    app.post('/v1/chat/completions', (request, reply) => handle('chat', request, reply));
    app.post('/v1/completions', (request, reply) => handle('text', request, reply));
  },
  { name: 'openai-routes', dependencies: ['mesh', 'metrics'] },
);

/**
 * Parameters that would change the answer in ways this mesh does not implement are refused rather
 * than silently ignored (a client asking for tools or logprobs must not get a plain answer).
 */
function unsupportedFeature(body: Record<string, unknown>): { param: string; message: string } | null {
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    return { param: 'tools', message: 'tools are not supported by this mesh' };
  }
  if (body.logprobs === true || (typeof body.logprobs === 'number' && body.logprobs > 0)) {
    return { param: 'logprobs', message: 'logprobs are not supported by this mesh' };
  }
  const format = body.response_format as { type?: unknown } | undefined;
  if (format && typeof format === 'object' && format.type !== 'text') {
    return {
      param: 'response_format',
      message: `response_format ${String(format.type)} is not supported by this mesh`,
    };
  }
  return null;
}

function completionObject(job: PreparedJob, outcome: CompletionOutcome) {
  const cascadia = { node_ids: outcome.nodeIds, receipt: outcome.receipt };
  if (job.kind === 'chat') {
    return {
      id: job.id,
      object: 'chat.completion',
      created: job.created,
      model: job.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: outcome.text, refusal: null },
          logprobs: null,
          finish_reason: outcome.finishReason,
        },
      ],
      usage: outcome.usage,
      cascadia,
    };
  }
  return {
    id: job.id,
    object: 'text_completion',
    created: job.created,
    model: job.model,
    choices: [{ index: 0, text: outcome.text, logprobs: null, finish_reason: outcome.finishReason }],
    usage: outcome.usage,
    cascadia,
  };
}
