import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The gateway's Prometheus metrics, on a registry of its own (one per app instance). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gateway_' });
  const metrics = {
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
  return { ...metrics, perModel: perModelChildren(metrics) };
}

type Metrics = {
  requests: Counter<'model' | 'status'>;
  tokens: Counter<'model' | 'type'>;
  cost: Counter<'model'>;
  latency: Histogram<'model' | 'stream'>;
  ttft: Histogram<'model'>;
};

/**
 * The per-call metrics' labelled children, looked up once per model: resolving labels on every
 * increment (hashing the label object) was a measurable cost per call. Models reaching these
 * metrics are routed and priced ones only, so the cache stays small; a cap guards it anyway.
 */
function perModelChildren(metrics: Metrics) {
  const children = (model: string) => ({
    promptTokens: metrics.tokens.labels(model, 'prompt'),
    completionTokens: metrics.tokens.labels(model, 'completion'),
    cost: metrics.cost.labels(model),
    latency: { stream: metrics.latency.labels(model, 'true'), plain: metrics.latency.labels(model, 'false') },
    ttft: metrics.ttft.labels(model),
    requests: new Map<number, { inc(value?: number): void }>(),
  });
  const cache = new Map<string, ReturnType<typeof children>>();
  return (model: string) => {
    let entry = cache.get(model);
    if (!entry) {
      if (cache.size >= 10_000) cache.clear();
      entry = children(model);
      cache.set(model, entry);
    }
    return entry;
  };
}

/** The requests counter of a model and HTTP status, from the model's cached children. */
export function requestsCounter(
  metrics: GatewayMetrics,
  model: string,
  status: number,
): { inc(value?: number): void } {
  const byStatus = metrics.perModel(model).requests;
  let counter = byStatus.get(status);
  if (!counter) {
    counter = metrics.requests.labels(model, String(status));
    byStatus.set(status, counter);
  }
  return counter;
}

export type GatewayMetrics = ReturnType<typeof createMetrics>;
