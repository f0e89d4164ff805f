import { type Database, num, type SqlExecutor, statement } from '../db/database.js';
import { type SQL, sql } from '../db/sql.js';
import { nextResetAt } from './budget-period.js';
import { jsonOrNull, keyFromRow, ownerFromRow, usageFromRow } from './rows.js';
import type {
  LedgerStore,
  ReservationRequest,
  ReserveResult,
  SettleRequest,
  SummaryQuery,
  UsageQuery,
  UsageRecord,
  UsageSeriesPoint,
  UsageSummaryRow,
} from './types.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export type BudgetTable = 'keys' | 'owners';
const p = sql.placeholder;

/** Per table: the hot-path statements, written once (see Statement). */
function budgetStatements(table: BudgetTable) {
  const t = sql.identifier(table);
  return {
    // A period that is over starts anew: spend back to zero (reservations stay). A no-op otherwise.
    roll: statement(sql`
      UPDATE ${t} SET budget_spent_nusd = 0,
        budget_resets_at = CAST(CASE budget_period WHEN 'daily' THEN ${p('daily')} WHEN 'weekly' THEN ${p('weekly')}
          ELSE ${p('monthly')} END AS BIGINT)
      WHERE id = ${p('id')} AND budget_period IS NOT NULL AND budget_resets_at <= ${p('now')}`),
    // The budget rule, in one statement: admit only if spent + reserved + amount stays within the limit.
    reserve: statement(sql`
      UPDATE ${t} SET budget_reserved_nusd = budget_reserved_nusd + ${p('amount')}
      WHERE id = ${p('id')}
        AND (budget_max_nusd IS NULL OR budget_spent_nusd + budget_reserved_nusd + ${p('amount')} <= budget_max_nusd)`),
    charge: statement(sql`
      UPDATE ${t}
      SET budget_spent_nusd = budget_spent_nusd + ${p('cost')}, budget_reserved_nusd = budget_reserved_nusd - ${p('release')}
      WHERE id = ${p('id')}`),
  };
}

export const BUDGET = { keys: budgetStatements('keys'), owners: budgetStatements('owners') };

const INSERT_RESERVATION = statement(sql`
  INSERT INTO reservations (id, key_id, owner_id, amount_nusd, created_at, expires_at)
  VALUES (${p('id')}, ${p('keyId')}, ${p('ownerId')}, ${p('amount')}, ${p('now')}, ${p('expiresAt')})`);

const RELEASE_RESERVATION = statement(
  sql`DELETE FROM reservations WHERE id = ${p('id')} RETURNING key_id, owner_id, amount_nusd`,
);

export const INSERT_USAGE = statement(sql`
  INSERT INTO usage (request_id, created_at, key_id, owner_id, model, provider, upstream_model, endpoint, stream,
    prompt_tokens, completion_tokens, cost_nusd, reserved_nusd, latency_ms, ttft_ms, status, http_status,
    metered_by, node_ids, receipt_digest, error)
  VALUES (${p('requestId')}, ${p('createdAt')}, ${p('keyId')}, ${p('ownerId')}, ${p('model')}, ${p('provider')},
    ${p('upstreamModel')}, ${p('endpoint')}, ${p('stream')}, ${p('promptTokens')}, ${p('completionTokens')},
    ${p('cost')}, ${p('reserved')}, ${p('latencyMs')}, ${p('ttftMs')}, ${p('status')}, ${p('httpStatus')},
    ${p('meteredBy')}, ${p('nodeIds')}, ${p('receiptDigest')}, ${p('error')})`);

/** INSERT_USAGE that leaves an existing row of the request id alone (changes: 0). */
export const INSERT_USAGE_ONCE = statement(sql`${INSERT_USAGE.query} ON CONFLICT (request_id) DO NOTHING`);

function upsertRollup(table: 'usage_hourly' | 'usage_daily', bucketColumn: 'hour_start' | 'day_start') {
  const t = sql.identifier(table);
  const bucket = sql.identifier(bucketColumn);
  return statement(sql`
    INSERT INTO ${t} (${bucket}, key_id, model, owner_id, requests, errors, prompt_tokens, completion_tokens, cost_nusd)
    VALUES (${p('bucketStart')}, ${p('keyId')}, ${p('model')}, ${p('ownerId')}, ${p('requests')}, ${p('errors')}, ${p('promptTokens')},
      ${p('completionTokens')}, ${p('cost')})
    ON CONFLICT (${bucket}, key_id, model) DO UPDATE SET
      requests = ${t}.requests + excluded.requests,
      errors = ${t}.errors + excluded.errors,
      prompt_tokens = ${t}.prompt_tokens + excluded.prompt_tokens,
      completion_tokens = ${t}.completion_tokens + excluded.completion_tokens,
      cost_nusd = ${t}.cost_nusd + excluded.cost_nusd`);
}

/** Roll-ups maintained in the settle transaction: summaries and series never scan the ledger. */
export const UPSERT_HOURLY = upsertRollup('usage_hourly', 'hour_start');
export const UPSERT_DAILY = upsertRollup('usage_daily', 'day_start');

/** Ranges at least this long are summarised from the daily roll-up (day resolution). */
const DAILY_SUMMARY_MIN_RANGE_MS = 7 * DAY_MS;

export function rollValues(id: string, now: number) {
  return {
    id,
    now,
    daily: nextResetAt('daily', now),
    weekly: nextResetAt('weekly', now),
    monthly: nextResetAt('monthly', now),
  };
}

function encodeCursor(row: UsageRecord): string {
  return Buffer.from(`${row.createdAt}:${row.requestId}`, 'utf8').toString('base64url');
}

export class InvalidCursorError extends Error {}

function decodeCursor(cursor: string): { createdAt: number; requestId: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const sep = text.indexOf(':');
  const createdAt = Number(text.slice(0, sep));
  if (sep <= 0 || !Number.isSafeInteger(createdAt)) throw new InvalidCursorError('invalid cursor');
  return { createdAt, requestId: text.slice(sep + 1) };
}

export class SqlLedgerStore implements LedgerStore {
  constructor(protected readonly db: Database) {}

  async reserve(request: ReservationRequest): Promise<ReserveResult> {
    const now = request.now ?? Date.now();
    try {
      await this.db.transaction(async (tx) => {
        const amount = request.amountNusd;
        await tx.run(BUDGET.keys.roll, rollValues(request.keyId, now));
        if ((await tx.run(BUDGET.keys.reserve, { id: request.keyId, amount })) !== 1)
          throw new BudgetRejection('key');
        if (request.ownerId) {
          await tx.run(BUDGET.owners.roll, rollValues(request.ownerId, now));
          if ((await tx.run(BUDGET.owners.reserve, { id: request.ownerId, amount })) !== 1) {
            throw new BudgetRejection('owner');
          }
        }
        await tx.run(INSERT_RESERVATION, {
          id: request.id,
          keyId: request.keyId,
          ownerId: request.ownerId,
          amount,
          now,
          expiresAt: now + request.ttlMs,
        });
      });
      return { ok: true };
    } catch (error) {
      if (!(error instanceof BudgetRejection)) throw error;
      const table = error.scope === 'key' ? 'keys' : 'owners';
      const id = error.scope === 'key' ? request.keyId : (request.ownerId ?? '');
      const rows = await this.db.all(sql`SELECT * FROM ${sql.identifier(table)} WHERE id = ${id}`);
      const row = rows[0];
      if (!row) throw new Error(`${error.scope} ${id} not found while reserving`);
      const budget = error.scope === 'key' ? keyFromRow(row).budget : ownerFromRow(row).budget;
      return { ok: false, scope: error.scope, budget };
    }
  }

  async settle(request: SettleRequest): Promise<void> {
    await this.db.transaction(async (tx) => {
      // A reservation already reclaimed (expired) has nothing left to release; the charge still lands.
      const released = await tx.all(RELEASE_RESERVATION, { id: request.reservationId });
      await writeSettlement(tx, request, released[0] ? num(released[0].amount_nusd) : 0);
    });
  }

  async reclaimExpiredReservations(now = Date.now()): Promise<number> {
    let reclaimed = 0;
    for (;;) {
      const expired = await this.db.all(
        sql`SELECT id FROM reservations WHERE expires_at <= ${now} ORDER BY expires_at LIMIT 500`,
      );
      if (expired.length === 0) return reclaimed;
      for (const { id } of expired) {
        const done = await this.db.transaction(async (tx) => {
          const rows = await tx.all(RELEASE_RESERVATION, { id: String(id) });
          const row = rows[0];
          if (!row) return false; // settled or reclaimed by another replica meanwhile
          const release = num(row.amount_nusd);
          await tx.run(BUDGET.keys.charge, { id: String(row.key_id), cost: 0, release });
          if (row.owner_id)
            await tx.run(BUDGET.owners.charge, { id: String(row.owner_id), cost: 0, release });
          return true;
        });
        if (done) reclaimed++;
      }
    }
  }

  async listUsage(query: UsageQuery): Promise<{ data: UsageRecord[]; nextCursor: string | null }> {
    const conditions: SQL[] = [];
    if (query.keyId) conditions.push(sql`key_id = ${query.keyId}`);
    if (query.ownerId) conditions.push(sql`owner_id = ${query.ownerId}`);
    if (query.model) conditions.push(sql`model = ${query.model}`);
    if (query.from !== undefined) conditions.push(sql`created_at >= ${query.from}`);
    if (query.to !== undefined) conditions.push(sql`created_at < ${query.to}`);
    if (query.cursor) {
      const c = decodeCursor(query.cursor);
      conditions.push(sql`(created_at, request_id) < (${c.createdAt}, ${c.requestId})`);
    }
    const where = conditions.length ? sql`WHERE ${sql.join(conditions, sql` AND `)}` : sql``;
    const rows = await this.db.all(
      sql`SELECT * FROM usage ${where} ORDER BY created_at DESC, request_id DESC LIMIT ${query.limit + 1}`,
    );
    const data = rows.slice(0, query.limit).map(usageFromRow);
    const last = data[data.length - 1];
    return { data, nextCursor: rows.length > query.limit && last ? encodeCursor(last) : null };
  }

  /**
   * Which roll-up answers a query: the daily one for long or unbounded ranges and day buckets, the
   * hourly one otherwise. `from` rounds down and `to` rounds up to the roll-up's resolution.
   */
  private rollup(
    query: SummaryQuery,
    bucket?: 'hour' | 'day',
  ): { table: SQL; where: SQL; size: number; column: SQL } {
    const long =
      query.from === undefined ||
      query.to === undefined ||
      query.to - query.from >= DAILY_SUMMARY_MIN_RANGE_MS;
    const daily = bucket ? bucket === 'day' : long;
    const size = daily ? DAY_MS : HOUR_MS;
    const column = daily ? sql`day_start` : sql`hour_start`;
    const conditions: SQL[] = [];
    if (query.keyId) conditions.push(sql`key_id = ${query.keyId}`);
    if (query.ownerId) conditions.push(sql`owner_id = ${query.ownerId}`);
    if (query.model) conditions.push(sql`model = ${query.model}`);
    if (query.from !== undefined) conditions.push(sql`${column} >= ${Math.floor(query.from / size) * size}`);
    if (query.to !== undefined) conditions.push(sql`${column} < ${Math.ceil(query.to / size) * size}`);
    return {
      table: daily ? sql`usage_daily` : sql`usage_hourly`,
      where: conditions.length ? sql`WHERE ${sql.join(conditions, sql` AND `)}` : sql``,
      size,
      column,
    };
  }

  async summarizeUsage(query: SummaryQuery): Promise<UsageSummaryRow[]> {
    const group = groupColumn(query.groupBy);
    const { table, where } = this.rollup(query);
    const rows = await this.db.all(sql`
      SELECT ${group} AS grp, SUM(requests) AS requests, SUM(errors) AS errors, SUM(prompt_tokens) AS prompt_tokens,
        SUM(completion_tokens) AS completion_tokens, SUM(cost_nusd) AS cost_nusd
      FROM ${table} ${where} GROUP BY ${group} ORDER BY cost_nusd DESC`);
    return rows.map((row) => ({
      group: row.grp === null || row.grp === undefined ? null : String(row.grp),
      requests: num(row.requests),
      errors: num(row.errors),
      promptTokens: num(row.prompt_tokens),
      completionTokens: num(row.completion_tokens),
      costNusd: num(row.cost_nusd),
    }));
  }

  async usageSeries(query: SummaryQuery & { bucket: 'hour' | 'day' }): Promise<UsageSeriesPoint[]> {
    const group = groupColumn(query.groupBy);
    const { table, where, column } = this.rollup(query, query.bucket);
    const rows = await this.db.all(sql`
      SELECT ${column} AS bucket_start, ${group} AS grp, SUM(requests) AS requests, SUM(errors) AS errors,
        SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, SUM(cost_nusd) AS cost_nusd
      FROM ${table} ${where} GROUP BY ${column}, ${group} ORDER BY bucket_start, grp`);
    return rows.map((row) => ({
      bucketStart: num(row.bucket_start),
      group: row.grp === null || row.grp === undefined ? null : String(row.grp),
      requests: num(row.requests),
      errors: num(row.errors),
      promptTokens: num(row.prompt_tokens),
      completionTokens: num(row.completion_tokens),
      costNusd: num(row.cost_nusd),
    }));
  }
}

/**
 * The settlement's writes, inside the caller's transaction: `release` leaves the budgets'
 * reserved column, the metered cost is charged, and the ledger row and both roll-ups are written.
 */
export async function writeSettlement(
  tx: SqlExecutor,
  request: SettleRequest,
  release: number,
): Promise<void> {
  const cost = request.costNusd;
  await tx.run(BUDGET.keys.charge, { id: request.keyId, cost, release });
  if (request.ownerId) await tx.run(BUDGET.owners.charge, { id: request.ownerId, cost, release });
  await tx.run(INSERT_USAGE, usageValues(request));
  const rollup = { ...rollupValues(request), bucketStart: hourOf(request.row.createdAt) };
  await tx.run(UPSERT_HOURLY, rollup);
  await tx.run(UPSERT_DAILY, { ...rollup, bucketStart: dayOf(request.row.createdAt) });
}

export const hourOf = (time: number) => Math.floor(time / HOUR_MS) * HOUR_MS;
export const dayOf = (time: number) => Math.floor(time / DAY_MS) * DAY_MS;

/** The ledger row's values for INSERT_USAGE. */
export function usageValues(request: SettleRequest) {
  const r = request.row;
  return {
    requestId: request.reservationId,
    createdAt: r.createdAt,
    keyId: request.keyId,
    ownerId: request.ownerId,
    model: r.model,
    provider: r.provider,
    upstreamModel: r.upstreamModel,
    endpoint: r.endpoint,
    stream: r.stream ? 1 : 0,
    promptTokens: r.promptTokens,
    completionTokens: r.completionTokens,
    cost: request.costNusd,
    reserved: r.reservedNusd,
    latencyMs: r.latencyMs,
    ttftMs: r.ttftMs,
    status: r.status,
    httpStatus: r.httpStatus,
    meteredBy: r.meteredBy,
    nodeIds: jsonOrNull(r.nodeIds),
    receiptDigest: r.receiptDigest,
    error: r.error,
  };
}

/** One call's contribution to the roll-ups (UPSERT_HOURLY / UPSERT_DAILY, with its bucketStart). */
export function rollupValues(request: SettleRequest) {
  const r = request.row;
  return {
    keyId: request.keyId,
    model: r.model,
    ownerId: request.ownerId,
    requests: 1,
    errors: r.status === 'upstream_error' ? 1 : 0,
    promptTokens: r.promptTokens,
    completionTokens: r.completionTokens,
    cost: request.costNusd,
  };
}

function groupColumn(groupBy: SummaryQuery['groupBy']): SQL {
  return groupBy === 'key' ? sql`key_id` : groupBy === 'owner' ? sql`owner_id` : sql`model`;
}

class BudgetRejection extends Error {
  constructor(readonly scope: 'key' | 'owner') {
    super(`${scope} budget exhausted`);
  }
}
