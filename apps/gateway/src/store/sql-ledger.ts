import { type SQL, sql } from 'drizzle-orm';
import { type Database, num, type SqlExecutor } from '../db/database.js';
import { nextResetAt } from './budget-period.js';
import { jsonOrNull, keyFromRow, ownerFromRow, usageFromRow } from './rows.js';
import type {
  BudgetPeriod,
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

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

type BudgetTable = 'keys' | 'owners';

/** Starts a new period when the current one is over (spend back to zero; reservations stay). */
async function rollBudgetPeriod(tx: SqlExecutor, table: BudgetTable, id: string, now: number): Promise<void> {
  const rows = await tx.all(
    sql`SELECT budget_period FROM ${sql.identifier(table)}
        WHERE id = ${id} AND budget_period IS NOT NULL AND budget_resets_at <= ${now}`,
  );
  const period = rows[0]?.budget_period;
  if (!period) return;
  await tx.run(sql`
    UPDATE ${sql.identifier(table)} SET budget_spent_nusd = 0,
      budget_resets_at = ${nextResetAt(String(period) as BudgetPeriod, now)}
    WHERE id = ${id} AND budget_resets_at <= ${now}`);
}

/** The budget rule, in one statement: admit only if spent + reserved + amount stays within the limit. */
function reserveSql(table: BudgetTable, id: string, amount: number): SQL {
  return sql`
    UPDATE ${sql.identifier(table)} SET budget_reserved_nusd = budget_reserved_nusd + ${amount}
    WHERE id = ${id}
      AND (budget_max_nusd IS NULL OR budget_spent_nusd + budget_reserved_nusd + ${amount} <= budget_max_nusd)`;
}

function chargeSql(table: BudgetTable, id: string, cost: number, release: number): SQL {
  return sql`
    UPDATE ${sql.identifier(table)}
    SET budget_spent_nusd = budget_spent_nusd + ${cost}, budget_reserved_nusd = budget_reserved_nusd - ${release}
    WHERE id = ${id}`;
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
  constructor(private readonly db: Database) {}

  async reserve(request: ReservationRequest): Promise<ReserveResult> {
    const now = request.now ?? Date.now();
    try {
      await this.db.transaction(async (tx) => {
        await rollBudgetPeriod(tx, 'keys', request.keyId, now);
        if ((await tx.run(reserveSql('keys', request.keyId, request.amountNusd))) !== 1) {
          throw new BudgetRejection('key');
        }
        if (request.ownerId) {
          await rollBudgetPeriod(tx, 'owners', request.ownerId, now);
          if ((await tx.run(reserveSql('owners', request.ownerId, request.amountNusd))) !== 1) {
            throw new BudgetRejection('owner');
          }
        }
        await tx.run(sql`
          INSERT INTO reservations (id, key_id, owner_id, amount_nusd, created_at, expires_at)
          VALUES (${request.id}, ${request.keyId}, ${request.ownerId}, ${request.amountNusd}, ${now}, ${now + request.ttlMs})`);
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
    const r = request.row;
    const hourStart = Math.floor(r.createdAt / HOUR_MS) * HOUR_MS;
    const isError = r.status === 'upstream_error' ? 1 : 0;
    await this.db.transaction(async (tx) => {
      // A reservation already reclaimed (expired) has nothing left to release; the charge still lands.
      const released = await tx.all(
        sql`DELETE FROM reservations WHERE id = ${request.reservationId} RETURNING amount_nusd`,
      );
      const release = released[0] ? num(released[0].amount_nusd) : 0;
      await tx.run(chargeSql('keys', request.keyId, request.costNusd, release));
      if (request.ownerId) await tx.run(chargeSql('owners', request.ownerId, request.costNusd, release));
      await tx.run(sql`
        INSERT INTO usage (request_id, created_at, key_id, owner_id, model, provider, upstream_model, endpoint, stream,
          prompt_tokens, completion_tokens, cost_nusd, reserved_nusd, latency_ms, ttft_ms, status, http_status,
          metered_by, node_ids, receipt_digest, error)
        VALUES (${request.reservationId}, ${r.createdAt}, ${request.keyId}, ${request.ownerId}, ${r.model}, ${r.provider},
          ${r.upstreamModel}, ${r.endpoint}, ${r.stream ? 1 : 0}, ${r.promptTokens}, ${r.completionTokens},
          ${request.costNusd}, ${r.reservedNusd}, ${r.latencyMs}, ${r.ttftMs}, ${r.status}, ${r.httpStatus},
          ${r.meteredBy}, ${jsonOrNull(r.nodeIds)}, ${r.receiptDigest}, ${r.error})`);
      await tx.run(sql`
        INSERT INTO usage_hourly (hour_start, key_id, model, owner_id, requests, errors, prompt_tokens,
          completion_tokens, cost_nusd)
        VALUES (${hourStart}, ${request.keyId}, ${r.model}, ${request.ownerId}, 1, ${isError}, ${r.promptTokens},
          ${r.completionTokens}, ${request.costNusd})
        ON CONFLICT (hour_start, key_id, model) DO UPDATE SET
          requests = usage_hourly.requests + 1,
          errors = usage_hourly.errors + excluded.errors,
          prompt_tokens = usage_hourly.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = usage_hourly.completion_tokens + excluded.completion_tokens,
          cost_nusd = usage_hourly.cost_nusd + excluded.cost_nusd`);
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
          const rows = await tx.all(
            sql`DELETE FROM reservations WHERE id = ${String(id)} RETURNING key_id, owner_id, amount_nusd`,
          );
          const row = rows[0];
          if (!row) return false; // settled or reclaimed by another replica meanwhile
          const amount = num(row.amount_nusd);
          await tx.run(chargeSql('keys', String(row.key_id), 0, amount));
          if (row.owner_id) await tx.run(chargeSql('owners', String(row.owner_id), 0, amount));
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

  private rollupWhere(query: SummaryQuery): SQL {
    const conditions: SQL[] = [];
    if (query.keyId) conditions.push(sql`key_id = ${query.keyId}`);
    if (query.ownerId) conditions.push(sql`owner_id = ${query.ownerId}`);
    if (query.model) conditions.push(sql`model = ${query.model}`);
    // The roll-up has hour resolution: `from` rounds down and `to` rounds up to whole hours.
    if (query.from !== undefined)
      conditions.push(sql`hour_start >= ${Math.floor(query.from / HOUR_MS) * HOUR_MS}`);
    if (query.to !== undefined) conditions.push(sql`hour_start < ${Math.ceil(query.to / HOUR_MS) * HOUR_MS}`);
    return conditions.length ? sql`WHERE ${sql.join(conditions, sql` AND `)}` : sql``;
  }

  async summarizeUsage(query: SummaryQuery): Promise<UsageSummaryRow[]> {
    const group = groupColumn(query.groupBy);
    const rows = await this.db.all(sql`
      SELECT ${group} AS grp, SUM(requests) AS requests, SUM(errors) AS errors, SUM(prompt_tokens) AS prompt_tokens,
        SUM(completion_tokens) AS completion_tokens, SUM(cost_nusd) AS cost_nusd
      FROM usage_hourly ${this.rollupWhere(query)} GROUP BY ${group} ORDER BY cost_nusd DESC`);
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
    const size = query.bucket === 'hour' ? HOUR_MS : DAY_MS;
    // Inlined (a constant, not input) so PostgreSQL sees the same expression in SELECT and GROUP BY.
    const bucket = sql.raw(`(hour_start / ${size}) * ${size}`);
    const rows = await this.db.all(sql`
      SELECT ${bucket} AS bucket_start, ${group} AS grp, SUM(requests) AS requests, SUM(errors) AS errors,
        SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, SUM(cost_nusd) AS cost_nusd
      FROM usage_hourly ${this.rollupWhere(query)} GROUP BY ${bucket}, ${group} ORDER BY bucket_start, grp`);
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

function groupColumn(groupBy: SummaryQuery['groupBy']): SQL {
  return groupBy === 'key' ? sql`key_id` : groupBy === 'owner' ? sql`owner_id` : sql`model`;
}

class BudgetRejection extends Error {
  constructor(readonly scope: 'key' | 'owner') {
    super(`${scope} budget exhausted`);
  }
}
