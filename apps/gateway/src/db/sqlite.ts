import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { SQL } from 'drizzle-orm';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import type { Database, Row, SqlExecutor } from './database.js';
import { migrationsFolder } from './migrations-folder.js';

/**
 * better-sqlite3 is synchronous, but store code awaits between statements. Without a lock another
 * request's statements could run inside an open transaction, so every statement and transaction
 * takes this queue in turn. It costs a few microtasks and nothing in throughput: the database is
 * single-writer anyway.
 */
class AsyncLock {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

class SqliteExecutor implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  constructor(protected readonly db: BetterSQLite3Database) {}

  async all<T extends Row = Row>(query: SQL): Promise<T[]> {
    return this.db.all<T>(query);
  }

  async run(query: SQL): Promise<number> {
    return this.db.run(query).changes;
  }
}

class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  private readonly lock = new AsyncLock();
  private readonly inner: SqliteExecutor;

  constructor(
    private readonly client: BetterSqlite3.Database,
    private readonly db: BetterSQLite3Database,
    readonly location: string,
  ) {
    this.inner = new SqliteExecutor(db);
  }

  all<T extends Row = Row>(query: SQL): Promise<T[]> {
    return this.lock.run(() => this.db.all<T>(query));
  }

  run(query: SQL): Promise<number> {
    return this.lock.run(() => this.db.run(query).changes);
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.lock.run(async () => {
      this.client.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.inner);
        this.client.exec('COMMIT');
        return result;
      } catch (error) {
        if (this.client.inTransaction) this.client.exec('ROLLBACK');
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    await this.lock.run(() => this.client.close());
  }
}

/** Opens (creating on first start) the SQLite file in WAL mode and applies pending migrations. */
export function openSqlite(path: string): Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const client = new BetterSqlite3(path);
  client.pragma('journal_mode = WAL');
  // In WAL mode NORMAL loses nothing on a process crash (kill -9); only an OS crash or power loss
  // can drop the last commits. See the runbook for FULL.
  client.pragma(`synchronous = ${process.env.GATEWAY_SQLITE_SYNCHRONOUS === 'FULL' ? 'FULL' : 'NORMAL'}`);
  client.pragma('busy_timeout = 5000');
  client.pragma('foreign_keys = ON');
  const db = drizzle({ client });
  migrate(db, { migrationsFolder: migrationsFolder('sqlite') });
  return new SqliteDatabase(client, db, path);
}
