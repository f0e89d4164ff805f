import { defineConfig } from 'drizzle-kit';

// Generates the PostgreSQL migrations shipped in drizzle/postgres (applied on start by src/db/migrate.ts).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.pg.ts',
  out: './drizzle/postgres',
});
