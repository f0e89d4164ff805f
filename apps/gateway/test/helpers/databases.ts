import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { PostgresOptions } from '../../src/db/postgres.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;
export const DIALECTS = ['sqlite', 'postgres'] as const;
export type TestDialect = (typeof DIALECTS)[number];

if (!TEST_DATABASE_URL) {
  console.warn('[gateway tests] TEST_DATABASE_URL is unset: the PostgreSQL variants do not run.');
}

export function skipDialect(dialect: TestDialect): boolean {
  return dialect === 'postgres' && !TEST_DATABASE_URL;
}

export interface TestDatabase {
  url: string;
  pg: PostgresOptions;
  cleanup(): Promise<void>;
}

/** A fresh SQLite file in a temp dir, or a fresh schema on the PostgreSQL test server. */
export function testDatabase(dialect: TestDialect): TestDatabase {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'gateway-test-'));
    return {
      url: `file:${join(dir, 'gateway.db')}`,
      pg: {},
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is unset');
  const schema = `gw_test_${randomBytes(6).toString('hex')}`;
  const url = TEST_DATABASE_URL;
  return {
    url,
    pg: { schema, poolSize: 20 },
    cleanup: async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
}
