import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { openDatabase } from '../src/db/open.js';
import { sql } from '../src/db/sql.js';
import { DIALECTS, skipDialect, type TestDatabase, testDatabase } from './helpers/databases.js';

describe.each(DIALECTS)('database layer on %s', (dialect) => {
  describe.skipIf(skipDialect(dialect))(dialect, () => {
    let target: TestDatabase;
    let db: Database;

    beforeEach(async () => {
      target = testDatabase(dialect);
      db = await openDatabase(target.url, target.pg);
      await db.run(sql`CREATE TABLE scratch (id TEXT PRIMARY KEY, v INTEGER NOT NULL)`);
    });
    afterEach(async () => {
      await db.close();
      await target.cleanup();
    });

    it('runs concurrent transactions so that one that throws rolls back alone', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          db.transaction(async (tx) => {
            await tx.run(sql`INSERT INTO scratch (id, v) VALUES (${`a${i}`}, ${i})`);
            if (i % 5 === 0) throw new Error(`transaction ${i} fails`);
            await tx.run(sql`INSERT INTO scratch (id, v) VALUES (${`b${i}`}, ${i})`);
            return i;
          }),
        ),
      );
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(8);
      expect(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))).toHaveLength(32);
      const rows = await db.all<{ id: string }>(sql`SELECT id FROM scratch ORDER BY id`);
      expect(rows).toHaveLength(64);
      expect(rows.some((r) => r.id === 'a0' || r.id === 'a5')).toBe(false);
    });

    it('sees its own writes inside a transaction and commits them together', async () => {
      const seen = await db.transaction(async (tx) => {
        await tx.run(sql`INSERT INTO scratch (id, v) VALUES ('x', 1)`);
        await tx.run(sql`UPDATE scratch SET v = v + 41 WHERE id = 'x'`);
        return tx.all<{ v: unknown }>(sql`SELECT v FROM scratch WHERE id = 'x'`);
      });
      expect(Number(seen[0]?.v)).toBe(42);
      expect(await db.run(sql`DELETE FROM scratch WHERE id = ${'x'}`)).toBe(1);
    });

    it('rolls back a transaction that throws when it runs alone, and the next one commits', async () => {
      const failed = db.transaction(async (tx) => {
        await tx.run(sql`INSERT INTO scratch (id, v) VALUES ('alone', 1)`);
        throw new Error('alone fails');
      });
      await expect(failed).rejects.toThrow('alone fails');
      expect(await db.all(sql`SELECT id FROM scratch`)).toHaveLength(0);
      await db.transaction((tx) => tx.run(sql`INSERT INTO scratch (id, v) VALUES ('next', 2)`));
      expect(await db.all(sql`SELECT id FROM scratch`)).toEqual([{ id: 'next' }]);
    });
  });
});
