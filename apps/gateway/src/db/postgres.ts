import pg from 'pg';
import {
  type Database,
  type Query,
  type Row,
  renderQuery,
  type SqlExecutor,
  Statement,
  type Values,
} from './database.js';
import { migratePostgres } from './migrate.js';
import { renderSql, type SQL } from './sql.js';

const render = (query: SQL) => renderSql('postgres', query);

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

class PgExecutor implements SqlExecutor {
  readonly dialect = 'postgres' as const;
  constructor(protected readonly client: Queryable) {}

  private exec(query: Query, values?: Values): Promise<pg.QueryResult> {
    const { sql, params } = renderQuery('postgres', query, values, render);
    // Fixed statements are prepared once per connection under their name.
    const name = query instanceof Statement ? query.name : undefined;
    return this.client.query({ name, text: sql, values: params });
  }

  async all<T extends Row = Row>(query: Query, values?: Values): Promise<T[]> {
    return (await this.exec(query, values)).rows as T[];
  }

  async run(query: Query, values?: Values): Promise<number> {
    return (await this.exec(query, values)).rowCount ?? 0;
  }
}

class PgDatabase extends PgExecutor implements Database {
  constructor(
    private readonly pool: pg.Pool,
    readonly location: string,
  ) {
    super(pool);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(new PgExecutor(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
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
  const lockKey = `cascadia-gateway-migrate:${schema}`;
  const lockClient = await pool.connect();
  try {
    await lockClient.query('SELECT pg_advisory_lock(hashtext($1))', [lockKey]);
    try {
      await lockClient.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await migratePostgres(lockClient, schema);
    } finally {
      await lockClient.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]);
    }
  } catch (error) {
    lockClient.release();
    await pool.end();
    throw error;
  }
  lockClient.release();
  return new PgDatabase(pool, redactUrl(url));
}
