// WAL checkpoints on a worker thread with its own connection. A checkpoint copies the WAL back into
// the database file and fsyncs both; run by the connection that commits (SQLite's default, every
// 1000 pages, about every 70 calls here) it blocked the event loop for milliseconds at a time and
// was half the database cost of a call. PASSIVE checkpoints never block the writer, and durability
// is unchanged: a commit is in the WAL file before it resolves, whoever checkpoints it later.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Runs in the worker (CommonJS, `eval`): opens the file and checkpoints it every `intervalMs`. */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = ' + workerData.synchronous);
db.pragma('cache_size = -1024');
setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), workerData.intervalMs);
`;

export interface WalCheckpointer {
  stop(): Promise<void>;
}

/**
 * Starts the checkpointing worker for the SQLite file at `path`. `onFailure` runs if the worker
 * dies, so the caller can hand checkpoints back to its own connection.
 */
export function startWalCheckpointer(
  path: string,
  options: { synchronous: 'NORMAL' | 'FULL'; intervalMs?: number; onFailure: (error: unknown) => void },
): WalCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driver, path, synchronous: options.synchronous, intervalMs: options.intervalMs ?? 200 },
    // It holds no data: a small heap keeps its share of the process's memory small.
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
  });
  worker.unref();
  let stopping = false;
  worker.on('error', (error) => {
    if (!stopping) options.onFailure(error);
  });
  worker.on('exit', (code) => {
    if (!stopping) options.onFailure(new Error(`WAL checkpoint worker exited with code ${code}`));
  });
  return {
    async stop() {
      stopping = true;
      await worker.terminate();
    },
  };
}
