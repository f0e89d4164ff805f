import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { requestsCounter } from '../metrics.js';
import { type Endpoint, handleCall, modelAllowed } from '../proxy/call.js';
import { chatCompletionBody, completionBody, parseBody } from '../proxy/request-schemas.js';

/** The OpenAI-compatible data plane for virtual-key holders. */
export const dataPlaneRoutes = fp(
  async (app: FastifyInstance) => {
    const preHandler = (request: FastifyRequest) => app.authenticateKey(request);

    // The calls authenticate in the handler itself, in the same order a preHandler would (after the
    // body is read, before it is validated): a route hook costs a hook runner per call.
    const call =
      (endpoint: Endpoint, schema: typeof chatCompletionBody | typeof completionBody) =>
      async (request: FastifyRequest, reply: FastifyReply) => {
        await app.authenticateKey(request);
        const body = parseBody(schema, request.body);
        if (body instanceof Error) throw body;
        return handleCall(app, request, reply, endpoint, body);
      };

    app.post('/v1/chat/completions', call('chat.completions', chatCompletionBody));
    app.post('/v1/completions', call('completions', completionBody));

    app.get('/v1/models', { preHandler }, async (request) => {
      const key = request.virtualKey!;
      const names = new Set<string>([...app.registry.routes().map((r) => r.model), ...app.pricing.models()]);
      for (const entry of key.models ?? []) if (!entry.endsWith('*')) names.add(entry);
      const data = [...names]
        .filter((name) => modelAllowed(key.models, name))
        .sort()
        .map((id) => ({ id, object: 'model', created: 0, owned_by: safeProvider(app, id) }));
      return { object: 'list', data };
    });

    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url;
      if (!request.requestCounted && (route === '/v1/chat/completions' || route === '/v1/completions')) {
        requestsCounter(app.metrics, request.callModel ?? 'unknown', reply.statusCode).inc();
      }
      done();
    });
  },
  { name: 'data-plane', dependencies: ['gateway-core', 'virtual-key-auth'] },
);

function safeProvider(app: FastifyInstance, model: string): string {
  try {
    return app.registry.resolve(model).providerName;
  } catch {
    return 'unknown';
  }
}
