// One small execution surface over both drivers so the store's money logic is written once.
// Queries are drizzle `sql` templates: drizzle renders the dialect's placeholders and parameters.
import { fillPlaceholders, type SQL } from 'drizzle-orm/sql/sql';

export type Dialect = 'sqlite' | 'postgres';

export type Row = Record<string, unknown>;

export interface RenderedQuery {
  sql: string;
  params: unknown[];
}

/**
 * A statement written once with `sql.placeholder(name)` for its values and rendered once per
 * dialect: the hot path (auth, reserve, settle) then costs no query building, and each driver keeps
 * it prepared (SQLite statement cache, PostgreSQL named statements).
 */
export class Statement {
  private static count = 0;
  readonly name = `gw_${++Statement.count}`;
  private readonly rendered = new Map<Dialect, RenderedQuery>();

  constructor(readonly query: SQL) {}

  render(dialect: Dialect, renderer: (query: SQL) => RenderedQuery): RenderedQuery {
    let rendered = this.rendered.get(dialect);
    if (!rendered) {
      rendered = renderer(this.query);
      this.rendered.set(dialect, rendered);
    }
    return rendered;
  }
}

export function statement(query: SQL): Statement {
  return new Statement(query);
}

export type Query = SQL | Statement;
export type Values = Record<string, unknown>;

/** Renders a query and fills its placeholders. */
export function renderQuery(
  dialect: Dialect,
  query: Query,
  values: Values | undefined,
  renderer: (query: SQL) => RenderedQuery,
): RenderedQuery {
  const rendered = query instanceof Statement ? query.render(dialect, renderer) : renderer(query);
  return { sql: rendered.sql, params: values ? fillPlaceholders(rendered.params, values) : rendered.params };
}

export interface SqlExecutor {
  readonly dialect: Dialect;
  /** Rows of a SELECT or of a statement with RETURNING. */
  all<T extends Row = Row>(query: Query, values?: Values): Promise<T[]>;
  /** Runs a statement and returns the number of rows it changed. */
  run(query: Query, values?: Values): Promise<number>;
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
