import type { Database } from '../db/database.js';
import { sql } from '../db/sql.js';
import type { Price } from '../money.js';
import { priceFromRow } from './rows.js';
import type { PricingStore } from './types.js';

export class SqlPricingStore implements PricingStore {
  constructor(private readonly db: Database) {}

  async setPrice(price: Price): Promise<Price> {
    await this.db.transaction(async (tx) => {
      await tx.run(
        sql`DELETE FROM prices WHERE model = ${price.model} AND effective_from = ${price.effectiveFrom}`,
      );
      await tx.run(sql`
        INSERT INTO prices (model, effective_from, input_per_million, output_per_million, created_at)
        VALUES (${price.model}, ${price.effectiveFrom}, ${price.inputPerMillion}, ${price.outputPerMillion}, ${Date.now()})`);
    });
    return price;
  }

  async listPrices(model?: string): Promise<Price[]> {
    const rows = model
      ? await this.db.all(sql`SELECT * FROM prices WHERE model = ${model} ORDER BY model, effective_from`)
      : await this.db.all(sql`SELECT * FROM prices ORDER BY model, effective_from`);
    return rows.map(priceFromRow);
  }
}
