// The settlement journal of the SQLite serving process: settled calls that a kill -9 caught before
// they were folded into the database are folded on the next start, each charged once; a torn last
// line is reported and skipped; a journal left by a gateway that is not running is folded by the
// next process that opens the file (the CLI), never behind a running gateway's back.
import { execFile } from 'node:child_process';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireServeLock } from '../src/db/serve-lock.js';
import { openStore } from '../src/store/index.js';
import { parseJournal, settlementJournalPath } from '../src/store/settlement-journal.js';
import { type TestDatabase, testDatabase } from './helpers/databases.js';
import { settleRow } from './helpers/settle-row.js';

const run = promisify(execFile);
const BUILT_STORE = pathToFileURL(fileURLToPath(new URL('../dist/store/index.js', import.meta.url))).href;
const CALLS = 25;
const COST = 1_234;

/**
 * In a child process: serve the file, reserve and settle CALLS calls, then kill -9 itself as soon
 * as the settlements have resolved, before the fold that follows them could run.
 */
const CHILD = `
const { openStore } = await import(process.env.STORE_MODULE);
const store = await openStore(process.env.DB_URL, {}, { serving: true });
const [key] = await store.listKeys();
const ids = Array.from({ length: ${CALLS} }, (_, i) => 'req_crash_' + i);
for (const id of ids) {
  const admitted = await store.reserve({ id, keyId: key.id, ownerId: key.ownerId, amountNusd: 10000, ttlMs: 60000 });
  if (!admitted.ok) throw new Error('not admitted');
}
await Promise.all(ids.map((id, i) => store.settle({
  reservationId: id, keyId: key.id, ownerId: key.ownerId, costNusd: ${COST},
  row: { createdAt: Date.now(), model: 'cascadia:m', provider: 'cascadia', upstreamModel: 'm',
    endpoint: 'chat.completions', stream: false, promptTokens: 10 + i, completionTokens: 5, reservedNusd: 10000,
    latencyMs: 3, ttftMs: null, status: 'ok', httpStatus: 200, meteredBy: 'upstream', nodeIds: ['node-a'],
    receiptDigest: null, error: null },
})));
process.stdout.write('settled\\n');
process.kill(process.pid, 'SIGKILL');
`;

async function settleThenKill(url: string): Promise<string> {
  try {
    await run(process.execPath, ['--input-type=module', '-e', CHILD], {
      env: { ...process.env, STORE_MODULE: BUILT_STORE, DB_URL: url },
    });
  } catch (error) {
    const { signal, stdout } = error as { signal?: string; stdout?: string };
    if (signal === 'SIGKILL') return stdout ?? '';
    throw error;
  }
  throw new Error('the child was expected to be killed');
}

describe('settlement journal', () => {
  let db: TestDatabase;
  let path: string;
  beforeEach(() => {
    db = testDatabase('sqlite');
    path = db.url.slice('file:'.length);
  });
  afterEach(async () => {
    await db.cleanup();
  });

  async function createKey(): Promise<string> {
    const admin = await openStore(db.url);
    try {
      const owner = await admin.createOwner({ kind: 'team', name: 'T', budget: { maxNusd: 10_000_000 } });
      const { key } = await admin.createKey({
        alias: 'k',
        ownerId: owner.id,
        budget: { maxNusd: 10_000_000 },
      });
      return key.id;
    } finally {
      await admin.close();
    }
  }

  it('a kill -9 after settling loses nothing: the next start folds the journal, each call charged once', async () => {
    const keyId = await createKey();
    expect(await settleThenKill(db.url)).toBe('settled\n');

    // Killed before folding: the calls are in the journal only.
    const journal = settlementJournalPath(path);
    const { records, unreadable } = parseJournal(readFileSync(journal, 'utf8'));
    expect(records.map((r) => r.reservationId).sort()).toHaveLength(CALLS);
    expect(unreadable).toBe(0);
    // A line repeated (as if a fold had committed and the crash came before the journal was
    // emptied) and a last line cut short (an OS crash mid-write).
    appendFileSync(journal, `${JSON.stringify(records[0])}\n{"reservationId":"req_torn","keyId":"`);

    const failures: string[] = [];
    const serving = await openStore(
      db.url,
      {},
      { serving: true, onJournalWarning: (warning) => failures.push(warning.message) },
    );
    try {
      expect(failures).toEqual(['1 unreadable line(s) in the settlement journal were skipped']);
      expect(statSync(journal).size).toBe(0);
      const key = await serving.getKey(keyId);
      expect(key?.budget).toMatchObject({ spentNusd: CALLS * COST, reservedNusd: 0 });
      expect((await serving.getOwner(key!.ownerId!))?.budget.spentNusd).toBe(CALLS * COST);
      const usage = await serving.listUsage({ keyId, limit: 100 });
      expect(usage.data).toHaveLength(CALLS);
      expect(new Set(usage.data.map((r) => r.requestId)).size).toBe(CALLS);
      const [summary] = await serving.summarizeUsage({ groupBy: 'key', keyId });
      expect(summary).toMatchObject({ requests: CALLS, costNusd: CALLS * COST });
    } finally {
      await serving.close();
    }
  }, 60_000);

  it('is folded by the CLI when no gateway serves the file, and left to the gateway that does', async () => {
    const keyId = await createKey();
    await settleThenKill(db.url);
    const journal = settlementJournalPath(path);
    const size = statSync(journal).size;
    expect(size).toBeGreaterThan(0);

    // While a gateway holds the file's serving lock, an admin store leaves the journal to it.
    const lock = acquireServeLock(path);
    try {
      const admin = await openStore(db.url);
      try {
        expect(statSync(journal).size).toBe(size);
        expect((await admin.getKey(keyId))?.budget.spentNusd).toBe(0);
      } finally {
        await admin.close();
      }
    } finally {
      lock.release();
    }

    // No gateway: the CLI's store folds it before answering.
    const cli = await openStore(db.url);
    try {
      expect(statSync(journal).size).toBe(0);
      expect((await cli.getKey(keyId))?.budget.spentNusd).toBe(CALLS * COST);
      expect((await cli.listUsage({ keyId, limit: 100 })).data).toHaveLength(CALLS);
    } finally {
      await cli.close();
    }
  }, 60_000);

  it('keeps a settlement the database refuses journaled and counted, without holding back the others', async () => {
    const keyId = await createKey();
    const journal = settlementJournalPath(path);
    const line = (id: string, costNusd: number, provider: string | null) =>
      `${JSON.stringify({
        reservationId: id,
        keyId,
        ownerId: null,
        costNusd,
        row: settleRow({ provider: provider as string, nodeIds: null, receiptDigest: null }),
      })}\n`;
    // The middle one breaks the ledger's NOT NULL provider column.
    appendFileSync(
      journal,
      line('req_a', 1_000, 'cascadia') + line('req_bad', 5_000, null) + line('req_b', 1_000, 'cascadia'),
    );

    const warnings: string[] = [];
    const serving = await openStore(
      db.url,
      {},
      { serving: true, onJournalWarning: (warning) => warnings.push(warning.message) },
    );
    try {
      expect(warnings[0]).toMatch(
        /3 settled call\(s\) not yet written to the database, retrying: .*NOT NULL/,
      );
      // Folded again, each on its own: the two good ones land.
      const usage = await serving.listUsage({ keyId, limit: 10 });
      expect(usage.data.map((r) => r.requestId).sort()).toEqual(['req_a', 'req_b']);
      expect(warnings.at(-1)).toMatch(/^1 settled call\(s\) not yet written/);
      // The refused one still counts against the budget.
      expect((await serving.getKey(keyId))?.budget.spentNusd).toBe(7_000);
      expect(
        await serving.reserve({
          id: 'r1',
          keyId,
          ownerId: null,
          amountNusd: 10_000_000 - 7_000 + 1,
          ttlMs: 60_000,
        }),
      ).toMatchObject({ ok: false, scope: 'key' });
    } finally {
      await serving.close();
    }
    // And stays in the journal for the operator (and the next start).
    expect(parseJournal(readFileSync(journal, 'utf8')).records.map((r) => r.reservationId)).toContain(
      'req_bad',
    );
  }, 60_000);
});
