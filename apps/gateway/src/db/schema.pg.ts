// PostgreSQL schema. Kept in lockstep with schema.sqlite.ts: same tables, columns and indexes.
// Money is integer nano-USD (1e-9 USD) so budget checks are exact; times are epoch milliseconds.
import { bigint, doublePrecision, index, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';

export const owners = pgTable('owners', {
  id: text('id').primaryKey(),
  kind: text('kind').notNull(),
  name: text('name').notNull(),
  metadata: text('metadata'),
  budgetMaxNusd: bigint('budget_max_nusd', { mode: 'number' }),
  budgetSpentNusd: bigint('budget_spent_nusd', { mode: 'number' }).notNull().default(0),
  budgetReservedNusd: bigint('budget_reserved_nusd', { mode: 'number' }).notNull().default(0),
  budgetPeriod: text('budget_period'),
  budgetResetsAt: bigint('budget_resets_at', { mode: 'number' }),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
});

export const keys = pgTable(
  'keys',
  {
    id: text('id').primaryKey(),
    alias: text('alias').notNull(),
    keyHash: text('key_hash').notNull(),
    keyPrefix: text('key_prefix').notNull(),
    previousKeyHash: text('previous_key_hash'),
    previousKeyExpiresAt: bigint('previous_key_expires_at', { mode: 'number' }),
    ownerId: text('owner_id').references(() => owners.id),
    models: text('models'),
    metadata: text('metadata'),
    expiresAt: bigint('expires_at', { mode: 'number' }),
    rpmLimit: bigint('rpm_limit', { mode: 'number' }),
    tpmLimit: bigint('tpm_limit', { mode: 'number' }),
    budgetMaxNusd: bigint('budget_max_nusd', { mode: 'number' }),
    budgetSpentNusd: bigint('budget_spent_nusd', { mode: 'number' }).notNull().default(0),
    budgetReservedNusd: bigint('budget_reserved_nusd', { mode: 'number' }).notNull().default(0),
    budgetPeriod: text('budget_period'),
    budgetResetsAt: bigint('budget_resets_at', { mode: 'number' }),
    revokedAt: bigint('revoked_at', { mode: 'number' }),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [
    uniqueIndex('keys_key_hash_idx').on(t.keyHash),
    index('keys_previous_key_hash_idx').on(t.previousKeyHash),
    index('keys_owner_idx').on(t.ownerId),
  ],
);

export const prices = pgTable(
  'prices',
  {
    model: text('model').notNull(),
    effectiveFrom: bigint('effective_from', { mode: 'number' }).notNull(),
    inputPerMillion: doublePrecision('input_per_million').notNull(),
    outputPerMillion: doublePrecision('output_per_million').notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.model, t.effectiveFrom] })],
);

export const reservations = pgTable(
  'reservations',
  {
    id: text('id').primaryKey(),
    keyId: text('key_id').notNull(),
    ownerId: text('owner_id'),
    amountNusd: bigint('amount_nusd', { mode: 'number' }).notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    expiresAt: bigint('expires_at', { mode: 'number' }).notNull(),
  },
  (t) => [index('reservations_expires_idx').on(t.expiresAt)],
);

export const usage = pgTable(
  'usage',
  {
    requestId: text('request_id').primaryKey(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    keyId: text('key_id').notNull(),
    ownerId: text('owner_id'),
    model: text('model').notNull(),
    provider: text('provider').notNull(),
    upstreamModel: text('upstream_model').notNull(),
    endpoint: text('endpoint').notNull(),
    stream: bigint('stream', { mode: 'number' }).notNull(),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull(),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull(),
    costNusd: bigint('cost_nusd', { mode: 'number' }).notNull(),
    reservedNusd: bigint('reserved_nusd', { mode: 'number' }).notNull(),
    latencyMs: bigint('latency_ms', { mode: 'number' }).notNull(),
    ttftMs: bigint('ttft_ms', { mode: 'number' }),
    status: text('status').notNull(),
    httpStatus: bigint('http_status', { mode: 'number' }).notNull(),
    meteredBy: text('metered_by').notNull(),
    nodeIds: text('node_ids'),
    receiptDigest: text('receipt_digest'),
    error: text('error'),
  },
  (t) => [
    index('usage_key_time_idx').on(t.keyId, t.createdAt, t.requestId),
    index('usage_owner_time_idx').on(t.ownerId, t.createdAt, t.requestId),
    index('usage_time_idx').on(t.createdAt, t.requestId),
  ],
);

/** Hourly roll-up maintained in the settle transaction: summaries never scan the ledger. */
export const usageHourly = pgTable(
  'usage_hourly',
  {
    hourStart: bigint('hour_start', { mode: 'number' }).notNull(),
    keyId: text('key_id').notNull(),
    model: text('model').notNull(),
    ownerId: text('owner_id'),
    requests: bigint('requests', { mode: 'number' }).notNull(),
    errors: bigint('errors', { mode: 'number' }).notNull(),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull(),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull(),
    costNusd: bigint('cost_nusd', { mode: 'number' }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.hourStart, t.keyId, t.model] }),
    index('usage_hourly_owner_idx').on(t.ownerId, t.hourStart),
  ],
);

/** Daily roll-up, same shape: summaries over long ranges read a few rows per key and model per day. */
export const usageDaily = pgTable(
  'usage_daily',
  {
    dayStart: bigint('day_start', { mode: 'number' }).notNull(),
    keyId: text('key_id').notNull(),
    model: text('model').notNull(),
    ownerId: text('owner_id'),
    requests: bigint('requests', { mode: 'number' }).notNull(),
    errors: bigint('errors', { mode: 'number' }).notNull(),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull(),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull(),
    costNusd: bigint('cost_nusd', { mode: 'number' }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.dayStart, t.keyId, t.model] }),
    index('usage_daily_owner_idx').on(t.ownerId, t.dayStart),
  ],
);
