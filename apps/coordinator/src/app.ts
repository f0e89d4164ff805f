/**
 * The coordinator as a Fastify plugin (tested with `inject`): OpenAI routes, fleet endpoints,
 * metrics, optional API key, and OpenAI-shaped errors for everything that fails.
 */
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';
import { ApiError, sendError } from './http/errors.js';
import { apiKeyPlugin } from './http/plugins/api-key.js';
import { meshPlugin } from './http/plugins/mesh.js';
import { type CoordinatorMetrics, metricsPlugin } from './http/plugins/metrics.js';
import { fleetRoutes } from './http/routes/fleet.js';
import { type OpenAIRoutesOptions, openAIRoutes } from './http/routes/openai.js';
import type { MeshService } from './mesh/mesh-service.js';

export interface CoordinatorAppOptions extends OpenAIRoutesOptions {
  mesh: MeshService;
  apiKey?: string | undefined;
  metrics?: CoordinatorMetrics;
}

export const coordinatorApp: FastifyPluginAsync<CoordinatorAppOptions> = async (app, opts) => {
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status === 413) {
      return sendError(
        reply,
        new ApiError(413, 'invalid_request_error', 'request_too_large', 'The request body is too large.'),
      );
    }
    if (status >= 400 && status < 500) {
      const message =
        error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'Content-Type must be application/json.'
          : error.message;
      return sendError(reply, new ApiError(status, 'invalid_request_error', error.code ?? null, message));
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, new ApiError(500, 'server_error', 'internal_error', 'internal error'));
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      new ApiError(
        404,
        'invalid_request_error',
        'not_found',
        `No route for ${request.method} ${request.url.split('?')[0]}`,
      ),
    ),
  );
  await app.register(meshPlugin, { mesh: opts.mesh });
  await app.register(metricsPlugin, opts.metrics ? { metrics: opts.metrics } : {});
  await app.register(apiKeyPlugin, { apiKey: opts.apiKey });
  await app.register(fleetRoutes);
  await app.register(openAIRoutes, {
    ...(opts.defaultMaxTokens ? { defaultMaxTokens: opts.defaultMaxTokens } : {}),
    ...(opts.maxPromptTokens ? { maxPromptTokens: opts.maxPromptTokens } : {}),
  });
  app.get('/health', { logLevel: 'warn' }, async () => {
    const models = opts.mesh.servableModels();
    return {
      status: models.length ? 'ok' : 'degraded',
      models,
      nodes: opts.mesh.fleet.nodes.size,
      active_sessions: opts.mesh.active,
    };
  });
};

export interface BuildOptions extends CoordinatorAppOptions {
  /** largest accepted request body in bytes (default 1 MiB) */
  bodyLimit?: number;
  logger?: FastifyServerOptions['logger'];
}

/** A ready Fastify instance with the coordinator registered (tests inject into it; server.ts listens). */
export async function buildCoordinatorApp(opts: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    logger: opts.logger ?? false,
    // Secrets never reach logs.
    ...(opts.logger ? {} : {}),
  });
  await app.register(coordinatorApp, opts);
  return app;
}
