import { type Database, statement } from '../db/database.js';
import { sql } from '../db/sql.js';
import { nextResetAt } from './budget-period.js';
import { newId } from './key-secrets.js';
import { jsonOrNull, ownerFromRow } from './rows.js';
import { setBudgetSql } from './sql-keys.js';
import type { BudgetInput, CreateOwnerInput, OwnerRecord, OwnerStore } from './types.js';

const BY_ID = statement(sql`SELECT * FROM owners WHERE id = ${sql.placeholder('id')}`);

export class SqlOwnerStore implements OwnerStore {
  constructor(private readonly db: Database) {}

  async createOwner(input: CreateOwnerInput): Promise<OwnerRecord> {
    const id = input.id ?? newId(input.kind);
    const now = Date.now();
    const period = input.budget?.period ?? null;
    await this.db.run(sql`
      INSERT INTO owners (id, kind, name, metadata, budget_max_nusd, budget_spent_nusd, budget_reserved_nusd,
        budget_period, budget_resets_at, created_at, updated_at)
      VALUES (${id}, ${input.kind}, ${input.name}, ${jsonOrNull(input.metadata ?? null)},
        ${input.budget?.maxNusd ?? null}, 0, 0, ${period}, ${period ? nextResetAt(period, now) : null}, ${now}, ${now})`);
    const owner = await this.getOwner(id);
    if (!owner) throw new Error('owner vanished after insert');
    return owner;
  }

  async upsertOwner(input: CreateOwnerInput & { id: string }): Promise<OwnerRecord> {
    const existing = await this.getOwner(input.id);
    if (!existing) return this.createOwner(input);
    await this.db.run(sql`
      UPDATE owners SET kind = ${input.kind}, name = ${input.name}, metadata = ${jsonOrNull(input.metadata ?? null)},
        updated_at = ${Date.now()} WHERE id = ${input.id}`);
    if (input.budget !== undefined) {
      await this.db.run(setBudgetSql('owners', input.id, input.budget ?? { maxNusd: null, period: null }));
    }
    return (await this.getOwner(input.id)) ?? existing;
  }

  async getOwner(id: string): Promise<OwnerRecord | null> {
    const rows = await this.db.all(BY_ID, { id });
    return rows[0] ? ownerFromRow(rows[0]) : null;
  }

  async listOwners(): Promise<OwnerRecord[]> {
    const rows = await this.db.all(sql`SELECT * FROM owners ORDER BY created_at, id`);
    return rows.map(ownerFromRow);
  }

  async setOwnerBudget(id: string, budget: BudgetInput): Promise<OwnerRecord | null> {
    const changed = await this.db.run(setBudgetSql('owners', id, budget));
    return changed ? this.getOwner(id) : null;
  }
}
