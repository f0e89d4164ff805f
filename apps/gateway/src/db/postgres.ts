import type { SQL } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import type { Database, Row, SqlExecutor } from './database.js';
import { migrationsFolder } from './migrations-folder.js';

type PgLike = Pick<NodePgDatabase, 'execute'>;

class PgExecutor implements SqlExecutor {
  readonly dialect = 'postgres' as const;
  constructor(protected readonly db: PgLike) {}

  async all<T extends Row = Row>(query: SQL): Promise<T[]> {
    const result = await this.db.execute(query);
    return result.rows as T[];
  }

  async run(query: SQL): Promise<number> {
    const result = await this.db.execute(query);
    return result.rowCount ?? 0;
  }
}

class PgDatabase extends PgExecutor implements Database {
  constructor(
    private readonly pool: pg.Pool,
    private readonly drizzleDb: NodePgDatabase,
    readonly location: string,
  ) {
    super(drizzleDb);
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.drizzleDb.transaction((tx) => fn(new PgExecutor(tx)));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

export interface PostgresOptions {
  /** Schema holding the gateway's tables (default `public`); tests use one schema per run. */
  schema?: string;
  poolSize?: number;
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

/**
 * Connects a pool and applies pending migrations. Several gateway replicas may start at once:
 * an advisory lock makes exactly one of them migrate while the others wait.
 */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<Database> {
  const schema = options.schema ?? 'public';
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid PostgreSQL schema name "${schema}"`);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    options: `-c search_path=${schema}`,
  });
  const lockClient = await pool.connect();
  try {
    await lockClient.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await lockClient.query('SELECT pg_advisory_lock(hashtext($1))', [`cascadia-gateway-migrate:${schema}`]);
    try {
      const db = drizzle({ client: pool });
      await migrate(db, { migrationsFolder: migrationsFolder('postgres'), migrationsSchema: schema });
    } finally {
      await lockClient.query('SELECT pg_advisory_unlock(hashtext($1))', [
        `cascadia-gateway-migrate:${schema}`,
      ]);
    }
  } catch (error) {
    lockClient.release();
    await pool.end();
    throw error;
  }
  lockClient.release();
  return new PgDatabase(pool, drizzle({ client: pool }), redactUrl(url));
}
