// Mapping between SQL rows (snake_case, dialect-dependent number types) and records.
import { num, numOrNull, type Row, strOrNull } from '../db/database.js';
import type { Price } from '../money.js';
import type {
  BudgetPeriod,
  BudgetState,
  KeyRecord,
  MeteredBy,
  OwnerKind,
  OwnerRecord,
  UsageRecord,
  UsageStatus,
} from './types.js';

function parseJson<T>(value: unknown): T | null {
  if (value === null || value === undefined) return null;
  return JSON.parse(String(value)) as T;
}

export function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

function budgetFrom(row: Row): BudgetState {
  return {
    maxNusd: numOrNull(row.budget_max_nusd),
    spentNusd: num(row.budget_spent_nusd),
    reservedNusd: num(row.budget_reserved_nusd),
    period: strOrNull(row.budget_period) as BudgetPeriod | null,
    resetsAt: numOrNull(row.budget_resets_at),
  };
}

export function keyFromRow(row: Row): KeyRecord {
  return {
    id: String(row.id),
    alias: String(row.alias),
    keyPrefix: String(row.key_prefix),
    ownerId: strOrNull(row.owner_id),
    models: parseJson<string[]>(row.models),
    metadata: parseJson<Record<string, unknown>>(row.metadata),
    expiresAt: numOrNull(row.expires_at),
    rpmLimit: numOrNull(row.rpm_limit),
    tpmLimit: numOrNull(row.tpm_limit),
    budget: budgetFrom(row),
    revokedAt: numOrNull(row.revoked_at),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
  };
}

export function ownerFromRow(row: Row): OwnerRecord {
  return {
    id: String(row.id),
    kind: String(row.kind) as OwnerKind,
    name: String(row.name),
    metadata: parseJson<Record<string, unknown>>(row.metadata),
    budget: budgetFrom(row),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
  };
}

export function priceFromRow(row: Row): Price {
  return {
    model: String(row.model),
    effectiveFrom: num(row.effective_from),
    inputPerMillion: num(row.input_per_million),
    outputPerMillion: num(row.output_per_million),
  };
}

export function usageFromRow(row: Row): UsageRecord {
  return {
    requestId: String(row.request_id),
    createdAt: num(row.created_at),
    keyId: String(row.key_id),
    ownerId: strOrNull(row.owner_id),
    model: String(row.model),
    provider: String(row.provider),
    upstreamModel: String(row.upstream_model),
    endpoint: String(row.endpoint),
    stream: num(row.stream) === 1,
    promptTokens: num(row.prompt_tokens),
    completionTokens: num(row.completion_tokens),
    costNusd: num(row.cost_nusd),
    reservedNusd: num(row.reserved_nusd),
    latencyMs: num(row.latency_ms),
    ttftMs: numOrNull(row.ttft_ms),
    status: String(row.status) as UsageStatus,
    httpStatus: num(row.http_status),
    meteredBy: String(row.metered_by) as MeteredBy,
    nodeIds: parseJson<string[]>(row.node_ids),
    receiptDigest: strOrNull(row.receipt_digest),
    error: strOrNull(row.error),
  };
}
