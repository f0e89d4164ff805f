// drizzle's `sql` templates, rendered without loading a dialect module: drizzle's dialect and driver
// modules pull in its whole query builder (~150 MB of V8 heap while they load, which the process then
// keeps as resident memory); the gateway only needs `sql` templates and the two renderings below.
import { fillPlaceholders, type SQL, sql } from 'drizzle-orm/sql/sql';
import type { Dialect, RenderedQuery } from './database.js';

export { fillPlaceholders, type SQL, sql };

const escapeName = (name: string) => `"${name.replace(/"/g, '""')}"`;
const escapeString = (value: string) => `'${value.replace(/'/g, "''")}'`;
const escapeParam: Record<Dialect, (index: number) => string> = {
  sqlite: () => '?',
  postgres: (index) => `$${index + 1}`,
};

type BuildQueryConfig = Parameters<SQL['toQuery']>[0];

/** Renders a template for a dialect: the same escaping drizzle's SQLite and PostgreSQL dialects use. */
export function renderSql(dialect: Dialect, query: SQL): RenderedQuery {
  // `casing` is only consulted for drizzle column objects, which the gateway's templates never embed.
  const config = {
    escapeName,
    escapeParam: escapeParam[dialect],
    escapeString,
  } as unknown as BuildQueryConfig;
  const { sql: text, params } = query.toQuery(config);
  return { sql: text, params };
}
