// One serving gateway per SQLite file. The serving process keeps budget reservations in memory
// (README "The budget rule"), which is exact only if no other process admits calls against the same
// budgets. The lock is an exclusive SQLite lock on a small side file, held for the life of the
// connection: the operating system releases it when the process exits, however it exits (kill -9
// included), so a crashed gateway never blocks its restart. The CLI's admin commands do not take it.
import BetterSqlite3 from 'better-sqlite3';

export class DatabaseInUseError extends Error {
  override readonly name = 'DatabaseInUseError';
}

export interface ServeLock {
  release(): void;
}

export function serveLockPath(databasePath: string): string {
  return `${databasePath}-serving`;
}

/** Takes the file's serving lock, or throws DatabaseInUseError if another gateway serves it. */
export function acquireServeLock(databasePath: string): ServeLock {
  const path = serveLockPath(databasePath);
  const lock = new BetterSqlite3(path, { timeout: 0 });
  try {
    // In exclusive locking mode the first write keeps the file's EXCLUSIVE lock until the
    // connection closes; a second connection (from any process) then fails with SQLITE_BUSY.
    lock.pragma('journal_mode = DELETE');
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('CREATE TABLE IF NOT EXISTS serving (pid INTEGER); DELETE FROM serving;');
    lock.prepare('INSERT INTO serving (pid) VALUES (?)').run(process.pid);
  } catch (error) {
    lock.close();
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') {
      throw new DatabaseInUseError(
        `Another gateway is already serving ${databasePath}: a SQLite database is served by one gateway ` +
          'process at a time (budget reservations live in its memory). Stop the other one, or use ' +
          'PostgreSQL (DATABASE_URL=postgres://…) for several replicas. The CLI admin commands work ' +
          'while it runs.',
      );
    }
    throw error;
  }
  return { release: () => lock.close() };
}
