// Applies the SQL migrations drizzle-kit generated (drizzle/<dialect>), with drizzle's own rules and
// bookkeeping table (`__drizzle_migrations`: every journal entry newer than the last applied one, in
// one transaction), so drizzle's migrator and this one are interchangeable. Done here to avoid loading
// drizzle's driver modules at runtime (see sql.ts).
import type BetterSqlite3 from 'better-sqlite3';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import type pg from 'pg';
import { migrationsFolder } from './migrations-folder.js';

export function migrateSqlite(client: BetterSqlite3.Database): number {
  const migrations = readMigrationFiles({ migrationsFolder: migrationsFolder('sqlite') });
  client.exec(`CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (
    id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`);
  const last = client
    .prepare('SELECT created_at FROM "__drizzle_migrations" ORDER BY created_at DESC LIMIT 1')
    .get() as { created_at: number | string } | undefined;
  const pending = migrations.filter((m) => !last || Number(last.created_at) < m.folderMillis);
  const record = client.prepare('INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)');
  client.transaction(() => {
    for (const migration of pending) {
      for (const statement of migration.sql) if (statement.trim()) client.exec(statement);
      record.run(migration.hash, migration.folderMillis);
    }
  })();
  return pending.length;
}

export async function migratePostgres(client: pg.PoolClient, schema: string): Promise<number> {
  const migrations = readMigrationFiles({ migrationsFolder: migrationsFolder('postgres') });
  const table = `"${schema}"."__drizzle_migrations"`;
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${table} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
  );
  const { rows } = await client.query(`SELECT created_at FROM ${table} ORDER BY created_at DESC LIMIT 1`);
  const last = rows[0] as { created_at: string | number } | undefined;
  const pending = migrations.filter((m) => !last || Number(last.created_at) < m.folderMillis);
  await client.query('BEGIN');
  try {
    for (const migration of pending) {
      for (const statement of migration.sql) if (statement.trim()) await client.query(statement);
      await client.query(`INSERT INTO ${table} ("hash", "created_at") VALUES ($1, $2)`, [
        migration.hash,
        migration.folderMillis,
      ]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return pending.length;
}
