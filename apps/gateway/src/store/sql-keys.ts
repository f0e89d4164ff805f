import { type Database, statement } from '../db/database.js';
import { type SQL, sql } from '../db/sql.js';
import { nextResetAt } from './budget-period.js';
import { displayPrefix, generateKeySecret, hashKeySecret, newId } from './key-secrets.js';
import { jsonOrNull, keyFromRow } from './rows.js';
import type { BudgetInput, CreateKeyInput, KeyRecord, KeyStore, UpdateKeyInput } from './types.js';

const BY_ID = statement(sql`SELECT * FROM keys WHERE id = ${sql.placeholder('id')}`);
export const BY_HASH = statement(sql`SELECT * FROM keys WHERE key_hash = ${sql.placeholder('hash')}`);
export const BY_PREVIOUS_HASH = statement(
  sql`SELECT * FROM keys WHERE previous_key_hash = ${sql.placeholder('hash')} AND previous_key_expires_at > ${sql.placeholder('now')}`,
);

export class SqlKeyStore implements KeyStore {
  constructor(private readonly db: Database) {}

  async createKey(input: CreateKeyInput): Promise<{ key: KeyRecord; secret: string }> {
    const secret = generateKeySecret();
    const now = Date.now();
    const id = newId('key');
    const period = input.budget?.period ?? null;
    await this.db.run(sql`
      INSERT INTO keys (id, alias, key_hash, key_prefix, owner_id, models, metadata, expires_at,
        rpm_limit, tpm_limit, budget_max_nusd, budget_spent_nusd, budget_reserved_nusd, budget_period,
        budget_resets_at, created_at, updated_at)
      VALUES (${id}, ${input.alias}, ${hashKeySecret(secret)}, ${displayPrefix(secret)}, ${input.ownerId ?? null},
        ${jsonOrNull(input.models ?? null)}, ${jsonOrNull(input.metadata ?? null)}, ${input.expiresAt ?? null},
        ${input.rpmLimit ?? null}, ${input.tpmLimit ?? null}, ${input.budget?.maxNusd ?? null}, 0, 0, ${period},
        ${period ? nextResetAt(period, now) : null}, ${now}, ${now})`);
    const key = await this.getKey(id);
    if (!key) throw new Error('key vanished after insert');
    return { key, secret };
  }

  async getKey(id: string): Promise<KeyRecord | null> {
    const rows = await this.db.all(BY_ID, { id });
    return rows[0] ? keyFromRow(rows[0]) : null;
  }

  async findKeyBySecret(secret: string, now = Date.now()): Promise<KeyRecord | null> {
    const hash = hashKeySecret(secret);
    const rows = await this.db.all(BY_HASH, { hash });
    if (rows[0]) return keyFromRow(rows[0]);
    const rotated = await this.db.all(BY_PREVIOUS_HASH, { hash, now });
    return rotated[0] ? keyFromRow(rotated[0]) : null;
  }

  async listKeys(filter: { ownerId?: string; includeRevoked?: boolean } = {}): Promise<KeyRecord[]> {
    const conditions: SQL[] = [];
    if (filter.ownerId) conditions.push(sql`owner_id = ${filter.ownerId}`);
    if (!filter.includeRevoked) conditions.push(sql`revoked_at IS NULL`);
    const where = conditions.length ? sql`WHERE ${sql.join(conditions, sql` AND `)}` : sql``;
    const rows = await this.db.all(sql`SELECT * FROM keys ${where} ORDER BY created_at, id`);
    return rows.map(keyFromRow);
  }

  async updateKey(id: string, patch: UpdateKeyInput): Promise<KeyRecord | null> {
    const sets: SQL[] = [sql`updated_at = ${Date.now()}`];
    if (patch.alias !== undefined) sets.push(sql`alias = ${patch.alias}`);
    if (patch.ownerId !== undefined) sets.push(sql`owner_id = ${patch.ownerId}`);
    if (patch.models !== undefined) sets.push(sql`models = ${jsonOrNull(patch.models)}`);
    if (patch.metadata !== undefined) sets.push(sql`metadata = ${jsonOrNull(patch.metadata)}`);
    if (patch.expiresAt !== undefined) sets.push(sql`expires_at = ${patch.expiresAt}`);
    if (patch.rpmLimit !== undefined) sets.push(sql`rpm_limit = ${patch.rpmLimit}`);
    if (patch.tpmLimit !== undefined) sets.push(sql`tpm_limit = ${patch.tpmLimit}`);
    const changed = await this.db.run(sql`UPDATE keys SET ${sql.join(sets, sql`, `)} WHERE id = ${id}`);
    return changed ? this.getKey(id) : null;
  }

  async revokeKey(id: string): Promise<KeyRecord | null> {
    const now = Date.now();
    await this.db.run(
      sql`UPDATE keys SET revoked_at = ${now}, previous_key_hash = NULL, updated_at = ${now}
          WHERE id = ${id} AND revoked_at IS NULL`,
    );
    return this.getKey(id);
  }

  async rotateKey(id: string, graceSeconds = 0): Promise<{ key: KeyRecord; secret: string } | null> {
    const secret = generateKeySecret();
    const now = Date.now();
    const graceUntil = graceSeconds > 0 ? now + graceSeconds * 1000 : null;
    const changed = await this.db.run(sql`
      UPDATE keys SET
        previous_key_hash = ${graceUntil === null ? null : sql`key_hash`},
        previous_key_expires_at = ${graceUntil},
        key_hash = ${hashKeySecret(secret)}, key_prefix = ${displayPrefix(secret)}, updated_at = ${now}
      WHERE id = ${id} AND revoked_at IS NULL`);
    if (!changed) return null;
    const key = await this.getKey(id);
    return key ? { key, secret } : null;
  }

  async setKeyBudget(id: string, budget: BudgetInput): Promise<KeyRecord | null> {
    const changed = await this.db.run(setBudgetSql('keys', id, budget));
    return changed ? this.getKey(id) : null;
  }
}

/** Sets the limit and period; spend and reservations are kept (a limit change is not a reset). */
export function setBudgetSql(table: 'keys' | 'owners', id: string, budget: BudgetInput): SQL {
  const now = Date.now();
  const sets: SQL[] = [sql`budget_max_nusd = ${budget.maxNusd}`, sql`updated_at = ${now}`];
  if (budget.period !== undefined) {
    sets.push(sql`budget_period = ${budget.period}`);
    sets.push(sql`budget_resets_at = ${budget.period ? nextResetAt(budget.period, now) : null}`);
  }
  return sql`UPDATE ${sql.identifier(table)} SET ${sql.join(sets, sql`, `)} WHERE id = ${id}`;
}
