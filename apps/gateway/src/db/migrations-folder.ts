import { fileURLToPath } from 'node:url';

/** The generated SQL migrations ship beside src/ and dist/ (both two levels below the package root). */
export function migrationsFolder(dialect: 'sqlite' | 'postgres'): string {
  return fileURLToPath(new URL(`../../drizzle/${dialect}`, import.meta.url));
}
