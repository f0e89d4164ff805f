// SQLite schema. Kept in lockstep with schema.pg.ts: same tables, columns and indexes.
// Money is integer nano-USD (1e-9 USD) so budget checks are exact; times are epoch milliseconds.
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

export const owners = sqliteTable('owners', {
  id: text('id').primaryKey(),
  kind: text('kind').notNull(),
  name: text('name').notNull(),
  metadata: text('metadata'),
  budgetMaxNusd: integer('budget_max_nusd'),
  budgetSpentNusd: integer('budget_spent_nusd').notNull().default(0),
  budgetReservedNusd: integer('budget_reserved_nusd').notNull().default(0),
  budgetPeriod: text('budget_period'),
  budgetResetsAt: integer('budget_resets_at'),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

export const keys = sqliteTable(
  'keys',
  {
    id: text('id').primaryKey(),
    alias: text('alias').notNull(),
    keyHash: text('key_hash').notNull(),
    keyPrefix: text('key_prefix').notNull(),
    previousKeyHash: text('previous_key_hash'),
    previousKeyExpiresAt: integer('previous_key_expires_at'),
    ownerId: text('owner_id').references(() => owners.id),
    models: text('models'),
    metadata: text('metadata'),
    expiresAt: integer('expires_at'),
    rpmLimit: integer('rpm_limit'),
    tpmLimit: integer('tpm_limit'),
    budgetMaxNusd: integer('budget_max_nusd'),
    budgetSpentNusd: integer('budget_spent_nusd').notNull().default(0),
    budgetReservedNusd: integer('budget_reserved_nusd').notNull().default(0),
    budgetPeriod: text('budget_period'),
    budgetResetsAt: integer('budget_resets_at'),
    revokedAt: integer('revoked_at'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('keys_key_hash_idx').on(t.keyHash),
    index('keys_previous_key_hash_idx').on(t.previousKeyHash),
    index('keys_owner_idx').on(t.ownerId),
  ],
);

export const prices = sqliteTable(
  'prices',
  {
    model: text('model').notNull(),
    effectiveFrom: integer('effective_from').notNull(),
    inputPerMillion: real('input_per_million').notNull(),
    outputPerMillion: real('output_per_million').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.model, t.effectiveFrom] })],
);

export const reservations = sqliteTable(
  'reservations',
  {
    id: text('id').primaryKey(),
    keyId: text('key_id').notNull(),
    ownerId: text('owner_id'),
    amountNusd: integer('amount_nusd').notNull(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('reservations_expires_idx').on(t.expiresAt)],
);

export const usage = sqliteTable(
  'usage',
  {
    requestId: text('request_id').primaryKey(),
    createdAt: integer('created_at').notNull(),
    keyId: text('key_id').notNull(),
    ownerId: text('owner_id'),
    model: text('model').notNull(),
    provider: text('provider').notNull(),
    upstreamModel: text('upstream_model').notNull(),
    endpoint: text('endpoint').notNull(),
    stream: integer('stream').notNull(),
    promptTokens: integer('prompt_tokens').notNull(),
    completionTokens: integer('completion_tokens').notNull(),
    costNusd: integer('cost_nusd').notNull(),
    reservedNusd: integer('reserved_nusd').notNull(),
    latencyMs: integer('latency_ms').notNull(),
    ttftMs: integer('ttft_ms'),
    status: text('status').notNull(),
    httpStatus: integer('http_status').notNull(),
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
export const usageHourly = sqliteTable(
  'usage_hourly',
  {
    hourStart: integer('hour_start').notNull(),
    keyId: text('key_id').notNull(),
    model: text('model').notNull(),
    ownerId: text('owner_id'),
    requests: integer('requests').notNull(),
    errors: integer('errors').notNull(),
    promptTokens: integer('prompt_tokens').notNull(),
    completionTokens: integer('completion_tokens').notNull(),
    costNusd: integer('cost_nusd').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.hourStart, t.keyId, t.model] }),
    index('usage_hourly_owner_idx').on(t.ownerId, t.hourStart),
  ],
);

/** Daily roll-up, same shape: summaries over long ranges read a few rows per key and model per day. */
export const usageDaily = sqliteTable(
  'usage_daily',
  {
    dayStart: integer('day_start').notNull(),
    keyId: text('key_id').notNull(),
    model: text('model').notNull(),
    ownerId: text('owner_id'),
    requests: integer('requests').notNull(),
    errors: integer('errors').notNull(),
    promptTokens: integer('prompt_tokens').notNull(),
    completionTokens: integer('completion_tokens').notNull(),
    costNusd: integer('cost_nusd').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.dayStart, t.keyId, t.model] }),
    index('usage_daily_owner_idx').on(t.ownerId, t.dayStart),
  ],
);
