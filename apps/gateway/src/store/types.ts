import type { Price } from '../money.js';

export type BudgetPeriod = 'daily' | 'weekly' | 'monthly';
export type OwnerKind = 'user' | 'team';

export interface BudgetState {
  maxNusd: number | null;
  spentNusd: number;
  reservedNusd: number;
  period: BudgetPeriod | null;
  resetsAt: number | null;
}

export interface OwnerRecord {
  id: string;
  kind: OwnerKind;
  name: string;
  metadata: Record<string, unknown> | null;
  budget: BudgetState;
  createdAt: number;
  updatedAt: number;
}

export interface KeyRecord {
  id: string;
  alias: string;
  keyPrefix: string;
  ownerId: string | null;
  models: string[] | null;
  metadata: Record<string, unknown> | null;
  expiresAt: number | null;
  rpmLimit: number | null;
  tpmLimit: number | null;
  budget: BudgetState;
  revokedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface BudgetInput {
  /** null removes the limit (unlimited). */
  maxNusd: number | null;
  period?: BudgetPeriod | null;
}

export interface CreateKeyInput {
  alias: string;
  ownerId?: string | null;
  models?: string[] | null;
  metadata?: Record<string, unknown> | null;
  expiresAt?: number | null;
  rpmLimit?: number | null;
  tpmLimit?: number | null;
  budget?: BudgetInput | null;
}

export type UpdateKeyInput = Partial<Omit<CreateKeyInput, 'budget'>>;

export interface CreateOwnerInput {
  id?: string;
  kind: OwnerKind;
  name: string;
  metadata?: Record<string, unknown> | null;
  budget?: BudgetInput | null;
}

export interface KeyStore {
  /** Returns the record and the secret; the secret is not stored and cannot be shown again. */
  createKey(input: CreateKeyInput): Promise<{ key: KeyRecord; secret: string }>;
  getKey(id: string): Promise<KeyRecord | null>;
  /** Looks a presented secret up by its hash (current secret, or a rotated one within its grace period). */
  findKeyBySecret(secret: string, now?: number): Promise<KeyRecord | null>;
  listKeys(filter?: { ownerId?: string; includeRevoked?: boolean }): Promise<KeyRecord[]>;
  updateKey(id: string, patch: UpdateKeyInput): Promise<KeyRecord | null>;
  revokeKey(id: string): Promise<KeyRecord | null>;
  /** Replaces the secret; the old one keeps working for `graceSeconds` (default 0). */
  rotateKey(id: string, graceSeconds?: number): Promise<{ key: KeyRecord; secret: string } | null>;
  setKeyBudget(id: string, budget: BudgetInput): Promise<KeyRecord | null>;
}

export interface OwnerStore {
  createOwner(input: CreateOwnerInput): Promise<OwnerRecord>;
  /** Creates or updates (name, kind, metadata, budget limit and period; spend is kept). */
  upsertOwner(input: CreateOwnerInput & { id: string }): Promise<OwnerRecord>;
  getOwner(id: string): Promise<OwnerRecord | null>;
  listOwners(): Promise<OwnerRecord[]>;
  setOwnerBudget(id: string, budget: BudgetInput): Promise<OwnerRecord | null>;
}

export interface PricingStore {
  /** Adds a price version; an existing (model, effective_from) is replaced. */
  setPrice(price: Price): Promise<Price>;
  listPrices(model?: string): Promise<Price[]>;
}

export interface ReservationRequest {
  id: string;
  keyId: string;
  ownerId: string | null;
  amountNusd: number;
  ttlMs: number;
  now?: number;
}

export type ReserveResult = { ok: true } | { ok: false; scope: 'key' | 'owner'; budget: BudgetState };

export type UsageStatus = 'ok' | 'upstream_error' | 'client_closed' | 'incomplete';
export type MeteredBy = 'upstream' | 'counted' | 'none';

export interface SettleRequest {
  reservationId: string;
  keyId: string;
  ownerId: string | null;
  costNusd: number;
  row: Omit<UsageRecord, 'requestId' | 'keyId' | 'ownerId' | 'costNusd'>;
}

export interface UsageRecord {
  requestId: string;
  createdAt: number;
  keyId: string;
  ownerId: string | null;
  model: string;
  provider: string;
  upstreamModel: string;
  endpoint: string;
  stream: boolean;
  promptTokens: number;
  completionTokens: number;
  costNusd: number;
  reservedNusd: number;
  latencyMs: number;
  ttftMs: number | null;
  status: UsageStatus;
  httpStatus: number;
  meteredBy: MeteredBy;
  nodeIds: string[] | null;
  receiptDigest: string | null;
  error: string | null;
}

export interface UsageQuery {
  keyId?: string;
  ownerId?: string;
  model?: string;
  from?: number;
  to?: number;
  limit: number;
  cursor?: string | null;
}

export type GroupBy = 'key' | 'owner' | 'model';

export interface UsageSummaryRow {
  group: string | null;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  costNusd: number;
}

export interface UsageSeriesPoint extends UsageSummaryRow {
  bucketStart: number;
}

export interface SummaryQuery {
  groupBy: GroupBy;
  keyId?: string;
  ownerId?: string;
  model?: string;
  from?: number;
  to?: number;
}

export interface LedgerStore {
  /**
   * Atomically reserves `amountNusd` on the key and its owner: each budget is checked and
   * debited by one conditional UPDATE (spent + reserved + amount <= max) in one transaction.
   */
  reserve(request: ReservationRequest): Promise<ReserveResult>;
  /**
   * Releases the reservation, charges the metered cost and writes the ledger row; resolves once that
   * is durable (a transaction, or on SQLite the settlement journal's line).
   */
  settle(request: SettleRequest): Promise<void>;
  /**
   * A hint from the call path: a call has just sent its upstream request and waits for the answer.
   * The SQLite serving store folds its journal then, when that call is the only one in flight.
   */
  upstreamWaiting?(): void;
  /** Returns expired reservations to their budgets (crash safety). Returns how many were reclaimed. */
  reclaimExpiredReservations(now?: number): Promise<number>;
  listUsage(query: UsageQuery): Promise<{ data: UsageRecord[]; nextCursor: string | null }>;
  summarizeUsage(query: SummaryQuery): Promise<UsageSummaryRow[]>;
  usageSeries(query: SummaryQuery & { bucket: 'hour' | 'day' }): Promise<UsageSeriesPoint[]>;
}

export interface GatewayStore extends KeyStore, OwnerStore, PricingStore, LedgerStore {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Writes every call settled so far into the database, for readers on other connections: the
   * SQLite serving store folds its settlement journal; elsewhere settlements are there already.
   */
  flush(): Promise<void>;
  close(): Promise<void>;
}
