import { defineConfig } from 'drizzle-kit';

// Generates the SQLite migrations shipped in drizzle/sqlite (applied on start by src/db/migrate.ts).
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema.sqlite.ts',
  out: './drizzle/sqlite',
});
