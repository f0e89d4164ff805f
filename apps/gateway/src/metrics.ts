import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The gateway's Prometheus metrics, on a registry of its own (one per app instance). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gateway_' });
  return {
    registry,
    requests: new Counter({
      name: 'gateway_requests_total',
      help: 'Data-plane calls answered, by requested model and HTTP status',
      labelNames: ['model', 'status'] as const,
      registers: [registry],
    }),
    tokens: new Counter({
      name: 'gateway_tokens_total',
      help: 'Tokens metered, by model and type (prompt|completion)',
      labelNames: ['model', 'type'] as const,
      registers: [registry],
    }),
    cost: new Counter({
      name: 'gateway_cost_usd_total',
      help: 'Cost charged to budgets in USD, by model',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'gateway_request_duration_seconds',
      help: 'Time from request to the end of the response, by model and stream (true|false)',
      labelNames: ['model', 'stream'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    ttft: new Histogram({
      name: 'gateway_time_to_first_token_seconds',
      help: 'Time from request to the first generated token of streamed calls, by model',
      labelNames: ['model'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    budgetRejections: new Counter({
      name: 'gateway_budget_rejections_total',
      help: 'Calls refused with 402, by reason (key_budget|owner_budget|unpriced)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rateLimitHits: new Counter({
      name: 'gateway_rate_limit_hits_total',
      help: 'Calls refused with 429, by limit (rpm|tpm)',
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'gateway_auth_failures_total',
      help: 'Refused credentials, by reason (missing|unknown|revoked|expired|admin)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    upstreamErrors: new Counter({
      name: 'gateway_upstream_errors_total',
      help: 'Failed upstream calls, by provider and kind (http_<status>|unavailable|timeout|stream_aborted)',
      labelNames: ['provider', 'kind'] as const,
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'gateway_in_flight_requests',
      help: 'Data-plane calls currently being served',
      registers: [registry],
    }),
    reservationsReclaimed: new Counter({
      name: 'gateway_reservations_reclaimed_total',
      help: 'Expired budget reservations returned to their budgets (calls that never settled)',
      registers: [registry],
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createMetrics>;
