// One small execution surface over both drivers so the store's money logic is written once.
// Queries are drizzle `sql` templates: drizzle renders the dialect's placeholders and parameters.
import type { SQL } from 'drizzle-orm';

export type Dialect = 'sqlite' | 'postgres';

export type Row = Record<string, unknown>;

export interface SqlExecutor {
  readonly dialect: Dialect;
  /** Rows of a SELECT or of a statement with RETURNING. */
  all<T extends Row = Row>(query: SQL): Promise<T[]>;
  /** Runs a statement and returns the number of rows it changed. */
  run(query: SQL): Promise<number>;
}

export interface Database extends SqlExecutor {
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Human-readable location (file path or redacted URL) for logs. */
  readonly location: string;
  close(): Promise<void>;
}

/** Numbers come back as number (SQLite), string (PostgreSQL bigint/numeric) or bigint; normalise. */
export function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' || typeof value === 'bigint') return Number(value);
  return 0;
}

export function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : num(value);
}

export function strOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}
