/** Prometheus metrics for the coordinator (one registry per app instance, so tests stay isolated). */
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createCoordinatorMetrics() {
  const registry = new Registry();
  return {
    registry,
    requests: new Counter({
      name: 'cascadia_requests_total',
      help: 'API requests by endpoint and HTTP status',
      labelNames: ['endpoint', 'status'] as const,
      registers: [registry],
    }),
    tokens: new Counter({
      name: 'cascadia_tokens_total',
      help: 'Tokens processed, by kind (prompt or completion)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    ttft: new Histogram({
      name: 'cascadia_time_to_first_token_seconds',
      help: 'Time from request to the first generated token',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'cascadia_request_duration_seconds',
      help: 'Generation request duration',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    activeSessions: new Gauge({
      name: 'cascadia_active_sessions',
      help: 'Generation sessions in flight',
      registers: [registry],
    }),
    nodes: new Gauge({
      name: 'cascadia_nodes',
      help: 'Registered nodes by health',
      labelNames: ['health'] as const,
      registers: [registry],
    }),
    replays: new Counter({
      name: 'cascadia_replays_total',
      help: 'Requests whose prefix was replayed on a replacement route after a node was lost',
      registers: [registry],
    }),
    joins: new Counter({
      name: 'cascadia_node_joins_total',
      help: 'Node join attempts by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}

export type CoordinatorMetrics = ReturnType<typeof createCoordinatorMetrics>;

declare module 'fastify' {
  interface FastifyInstance {
    metrics: CoordinatorMetrics;
  }
}

export const metricsPlugin = fp(
  async (app, opts: { metrics?: CoordinatorMetrics }) => {
    const metrics = opts.metrics ?? createCoordinatorMetrics();
    app.decorate('metrics', metrics);
    app.get('/metrics', async (_req, reply) => {
      const fleet = app.mesh.fleet;
      metrics.nodes.reset();
      for (const node of fleet.nodes.values()) metrics.nodes.inc({ health: fleet.health(node) });
      metrics.activeSessions.set(app.mesh.active);
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  },
  { name: 'metrics', dependencies: ['mesh'] },
);
