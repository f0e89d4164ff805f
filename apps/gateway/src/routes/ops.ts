import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** Liveness and Prometheus metrics (keep /metrics off the public internet; see infra/gateway). */
export const opsRoutes = fp(
  async (app: FastifyInstance) => {
    app.get('/health', async () => ({ status: 'ok', database: app.store.dialect }));
    app.get('/metrics', async (_request, reply) => {
      reply.header('content-type', app.metrics.registry.contentType);
      return app.metrics.registry.metrics();
    });
  },
  { name: 'ops', dependencies: ['gateway-core'] },
);
