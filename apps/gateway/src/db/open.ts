import { resolve } from 'node:path';
import type { Database } from './database.js';
import type { PostgresOptions } from './postgres.js';

export const DEFAULT_DATABASE_URL = 'file:./gateway.db';

/**
 * DATABASE_URL forms: `postgres://…` / `postgresql://…`, `file:<path>` (relative to the working
 * directory), a bare path, or `:memory:`. Each driver is loaded only when used (start-up time).
 */
export async function openDatabase(
  url: string = DEFAULT_DATABASE_URL,
  pg: PostgresOptions = {},
): Promise<Database> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { openPostgres } = await import('./postgres.js');
    return openPostgres(url, pg);
  }
  const { openSqlite } = await import('./sqlite.js');
  if (url === ':memory:' || url === 'file::memory:') return openSqlite(':memory:');
  const path = url.startsWith('file:') ? url.slice('file:'.length) : url;
  if (path.length === 0) throw new Error('DATABASE_URL "file:" needs a path');
  return openSqlite(resolve(path));
}
