import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  type Database,
  type Query,
  type Row,
  renderQuery,
  type SqlExecutor,
  type Values,
} from './database.js';
import { migrateSqlite } from './migrate.js';
import { renderSql, type SQL } from './sql.js';
import { startWalCheckpointer, type WalCheckpointer } from './wal-checkpointer.js';

/**
 * better-sqlite3 is synchronous, but store code awaits between statements. Without a lock another
 * request's statements could run inside an open transaction, so every statement and transaction
 * takes this queue in turn. It costs a few microtasks and nothing in throughput: the database is
 * single-writer anyway.
 */
class AsyncLock {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/**
 * Renders drizzle `sql` templates with drizzle's SQLite dialect and keeps the prepared statements:
 * preparing costs more than running for these small statements, and the gateway runs the same few
 * dozen statements on every call.
 */
class StatementCache {
  private readonly statements = new Map<string, BetterSqlite3.Statement>();

  constructor(private readonly client: BetterSqlite3.Database) {}

  prepare(query: Query, values?: Values): { statement: BetterSqlite3.Statement; params: unknown[] } {
    const { sql, params } = renderQuery('sqlite', query, values, (q: SQL) => renderSql('sqlite', q));
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.client.prepare(sql);
      // Dynamic filters make a bounded family of texts; a cap keeps a pathological caller in check.
      if (this.statements.size >= 500) this.statements.clear();
      this.statements.set(sql, statement);
    }
    return { statement, params };
  }

  all<T extends Row>(query: Query, values?: Values): T[] {
    const { statement, params } = this.prepare(query, values);
    return statement.all(...params) as T[];
  }

  run(query: Query, values?: Values): number {
    const { statement, params } = this.prepare(query, values);
    return statement.reader ? statement.all(...params).length : statement.run(...params).changes;
  }
}

class SqliteExecutor implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  constructor(protected readonly statements: StatementCache) {}

  async all<T extends Row = Row>(query: Query, values?: Values): Promise<T[]> {
    return this.statements.all<T>(query, values);
  }

  async run(query: Query, values?: Values): Promise<number> {
    return this.statements.run(query, values);
  }
}

interface PendingTransaction {
  fn: (tx: SqlExecutor) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** What the serving ledger needs beyond `Database`: reads that run now, synchronously. */
export interface SqliteDatabase extends Database {
  readonly dialect: 'sqlite';
  /**
   * Runs a read immediately, without waiting for the statement queue, so the caller can combine it
   * with in-memory state in one synchronous step. Inside a batch being committed it sees that
   * batch's writes (for budgets: settled spend not yet durable, which only over-counts).
   */
  readNow<T extends Row = Row>(query: Query, values?: Values): T[];
  /**
   * SQLite's `PRAGMA data_version`: it changes when another connection (the CLI, another process)
   * has committed to the file since this connection last looked, never for this connection's own
   * commits.
   */
  dataVersion(): number;
  /** A transaction is open on this connection (its writes are not committed yet). */
  readonly inTransaction: boolean;
  /** SQLite's `synchronous` setting: FULL syncs every commit to disk, NORMAL only at checkpoints. */
  readonly synchronous: 'NORMAL' | 'FULL';
  /**
   * `transaction`, for a caller that knows no other transaction can join this turn's batch (e.g.
   * the only call in flight): it starts at once instead of after this turn's I/O callbacks.
   */
  transactionNow<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}

class BetterSqliteDatabase implements SqliteDatabase {
  readonly dialect = 'sqlite' as const;
  private readonly lock = new AsyncLock();
  private readonly inner: SqliteExecutor;
  private readonly statements: StatementCache;
  private readonly begin: BetterSqlite3.Statement;
  private readonly commit: BetterSqlite3.Statement;
  private readonly rollback: BetterSqlite3.Statement;
  private readonly savepoint: BetterSqlite3.Statement;
  private readonly release: BetterSqlite3.Statement;
  private readonly rollbackToSavepoint: BetterSqlite3.Statement;
  private readonly dataVersionStatement: BetterSqlite3.Statement;
  private pending: PendingTransaction[] = [];
  private flushScheduled = false;

  constructor(
    private readonly client: BetterSqlite3.Database,
    readonly location: string,
    readonly synchronous: 'NORMAL' | 'FULL',
    private readonly checkpointer: WalCheckpointer | null = null,
  ) {
    this.statements = new StatementCache(client);
    this.inner = new SqliteExecutor(this.statements);
    // IMMEDIATE takes the write lock up front, so a transaction never fails to upgrade mid-way.
    this.begin = client.prepare('BEGIN IMMEDIATE');
    this.commit = client.prepare('COMMIT');
    this.rollback = client.prepare('ROLLBACK');
    this.savepoint = client.prepare('SAVEPOINT grouped');
    this.release = client.prepare('RELEASE grouped');
    this.rollbackToSavepoint = client.prepare('ROLLBACK TO grouped');
    this.dataVersionStatement = client.prepare('PRAGMA data_version').pluck();
  }

  dataVersion(): number {
    return Number(this.dataVersionStatement.get());
  }

  get inTransaction(): boolean {
    return this.client.inTransaction;
  }

  all<T extends Row = Row>(query: Query, values?: Values): Promise<T[]> {
    return this.lock.run(() => this.statements.all<T>(query, values));
  }

  readNow<T extends Row = Row>(query: Query, values?: Values): T[] {
    return this.statements.all<T>(query, values);
  }

  run(query: Query, values?: Values): Promise<number> {
    return this.lock.run(() => this.statements.run(query, values));
  }

  /**
   * Group commit: transactions that arrive in the same event-loop turn (or while another batch holds the lock) run together in one
   * BEGIN … COMMIT, each inside its own SAVEPOINT (so one that throws is rolled back alone). They run
   * one after the other, exactly as if serial, and each resolves only after the shared COMMIT: same
   * isolation and durability, one commit (the costly part) for many concurrent calls.
   */
  transactionNow<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    if (this.flushScheduled) return this.transaction(fn);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve, reject } as PendingTransaction);
      this.flushScheduled = true;
      void this.lock.run(() => this.flush());
    });
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve, reject } as PendingTransaction);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // After this turn's I/O callbacks: every call whose request or upstream answer arrived in
        // the same turn joins the batch. Started from a microtask instead, a batch held one or two
        // transactions under load, so each call still paid for a commit of its own.
        setImmediate(() => void this.lock.run(() => this.flush()));
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    const only = batch.length === 1 ? batch[0]! : null;
    if (only) {
      // Alone in its batch (one call at a time): a plain transaction, no savepoint to isolate it.
      let value: unknown;
      try {
        this.begin.run();
        value = await only.fn(this.inner);
        this.commit.run();
      } catch (error) {
        if (this.client.inTransaction) this.rollback.run();
        only.reject(error);
        return;
      }
      only.resolve(value);
      return;
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.begin.run();
      for (const item of batch) {
        this.savepoint.run();
        try {
          const value = await item.fn(this.inner);
          this.release.run();
          outcomes.push({ ok: true, value });
        } catch (error) {
          this.rollbackToSavepoint.run();
          this.release.run();
          outcomes.push({ ok: false, error });
        }
      }
      this.commit.run();
    } catch (error) {
      if (this.client.inTransaction) this.rollback.run();
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
  }

  async close(): Promise<void> {
    // The worker's connection goes first, so this one is the last: closing it checkpoints the WAL.
    await this.checkpointer?.stop();
    await this.lock.run(() => this.client.close());
  }
}

/** Opens (creating on first start) the SQLite file in WAL mode and applies pending migrations. */
export function openSqlite(path: string): SqliteDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const client = new BetterSqlite3(path);
  client.pragma('journal_mode = WAL');
  // In WAL mode NORMAL loses nothing on a process crash (kill -9): a commit is written to the WAL
  // file before it returns, only its fsync waits for the next checkpoint; an OS crash or power loss
  // can drop the last commits. See the runbook for FULL.
  const synchronous = process.env.GATEWAY_SQLITE_SYNCHRONOUS === 'FULL' ? 'FULL' : 'NORMAL';
  client.pragma(`synchronous = ${synchronous}`);
  client.pragma('busy_timeout = 5000');
  // 4 MiB of page cache by default (SQLite's is 2 MiB): a call touches a few hundred hot pages (the
  // B-trees' right edges, the key and roll-up rows) and summaries read the small roll-ups. A larger
  // cache fills with ledger pages written once and never read again (a 100,000-call soak ends with
  // 16 MiB of them) and counts fully in the process's resident memory. Raise it
  // (GATEWAY_SQLITE_CACHE_MB) for ad-hoc ledger queries over tens of millions of rows.
  const cacheMb = Number(process.env.GATEWAY_SQLITE_CACHE_MB ?? 4);
  client.pragma(`cache_size = -${Math.max(1, Math.round((Number.isFinite(cacheMb) ? cacheMb : 4) * 1024))}`);
  client.pragma('foreign_keys = ON');
  // Group commit runs each call in a SAVEPOINT, whose sub-journal (the pages' prior images) spilled
  // to a temporary file past 64 KiB: several extra file writes per call at concurrency. In memory it
  // is bounded by one batch's pages (a few MB at most) and dropped at its commit.
  client.pragma('temp_store = MEMORY');
  migrateSqlite(client);
  if (path === ':memory:') return new BetterSqliteDatabase(client, path, synchronous);
  // Checkpoints run on a worker (wal-checkpointer.ts). This connection keeps a far backstop (about
  // 40 MB of WAL) in case the worker falls behind, and takes over fully if the worker dies; the
  // WAL file is truncated back to 64 MiB after it has been reset.
  client.pragma('wal_autocheckpoint = 10000');
  client.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  const checkpointer = startWalCheckpointer(path, {
    synchronous,
    onFailure: (error) => {
      process.emitWarning(`SQLite checkpoints fall back to the committing connection: ${String(error)}`);
      if (client.open) client.pragma('wal_autocheckpoint = 1000');
    },
  });
  return new BetterSqliteDatabase(client, path, synchronous, checkpointer);
}
