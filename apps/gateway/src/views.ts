// JSON shapes of the HTTP API (snake_case, USD as numbers, times as ISO strings).
import { nanoToUsd, type Price } from './money.js';
import type {
  BudgetState,
  KeyRecord,
  OwnerRecord,
  UsageRecord,
  UsageSeriesPoint,
  UsageSummaryRow,
} from './store/types.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function budgetView(budget: BudgetState) {
  if (budget.maxNusd === null && budget.period === null) return null;
  return {
    max_usd: budget.maxNusd === null ? null : nanoToUsd(budget.maxNusd),
    spent_usd: nanoToUsd(budget.spentNusd),
    reserved_usd: nanoToUsd(budget.reservedNusd),
    remaining_usd:
      budget.maxNusd === null
        ? null
        : nanoToUsd(Math.max(0, budget.maxNusd - budget.spentNusd - budget.reservedNusd)),
    period: budget.period,
    resets_at: iso(budget.resetsAt),
  };
}

export function keyView(key: KeyRecord) {
  return {
    id: key.id,
    alias: key.alias,
    key_prefix: key.keyPrefix,
    owner_id: key.ownerId,
    models: key.models,
    metadata: key.metadata,
    expires_at: iso(key.expiresAt),
    rpm_limit: key.rpmLimit,
    tpm_limit: key.tpmLimit,
    budget: budgetView(key.budget),
    revoked_at: iso(key.revokedAt),
    created_at: iso(key.createdAt),
    updated_at: iso(key.updatedAt),
  };
}

export function ownerView(owner: OwnerRecord) {
  return {
    id: owner.id,
    kind: owner.kind,
    name: owner.name,
    metadata: owner.metadata,
    budget: budgetView(owner.budget),
    created_at: iso(owner.createdAt),
  };
}

export function priceView(price: Price) {
  return {
    model: price.model,
    input_per_million: price.inputPerMillion,
    output_per_million: price.outputPerMillion,
    effective_from: iso(price.effectiveFrom),
  };
}

/** The contract's UsageRow, plus operator fields. */
export function usageRowView(row: UsageRecord) {
  return {
    request_id: row.requestId,
    created_at: iso(row.createdAt),
    model: row.model,
    provider: row.provider,
    prompt_tokens: row.promptTokens,
    completion_tokens: row.completionTokens,
    cost_usd: nanoToUsd(row.costNusd),
    latency_ms: row.latencyMs,
    ttft_ms: row.ttftMs,
    status: row.status,
    node_ids: row.nodeIds,
    receipt_digest: row.receiptDigest,
    key_id: row.keyId,
    owner_id: row.ownerId,
    upstream_model: row.upstreamModel,
    endpoint: row.endpoint,
    stream: row.stream,
    http_status: row.httpStatus,
    metered_by: row.meteredBy,
    reserved_usd: nanoToUsd(row.reservedNusd),
    error: row.error,
  };
}

export function summaryView(row: UsageSummaryRow) {
  return {
    group: row.group,
    requests: row.requests,
    errors: row.errors,
    prompt_tokens: row.promptTokens,
    completion_tokens: row.completionTokens,
    cost_usd: nanoToUsd(row.costNusd),
  };
}

export function seriesView(point: UsageSeriesPoint) {
  return { bucket_start: iso(point.bucketStart), ...summaryView(point) };
}
