// The usage ledger at N rows on SQLite (default 10 million): bulk insert rate, per-call settle rate
// at that size, and the time of the queries the admin and key-holder APIs make.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import BetterSqlite3 from 'better-sqlite3';
import { newRequestId } from '../src/plugins/core.js';
import { type GatewayStore, openStore } from '../src/store/index.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const KEYS = 200;
const OWNERS = 20;
const MODELS = ['cascadia:smollm2-135m-instruct', 'cascadia/smollm2-135m-instruct', 'openai:gpt-4o-mini'];
const SPAN_DAYS = 30;

async function time<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

/** Median of `runs` timings (the first run also warms the page cache). */
async function queryTime(fn: () => Promise<unknown>, runs = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await time(fn)).ms);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export async function benchLedger(rows: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-ledger-bench-'));
  const path = join(dir, 'ledger.db');
  let store: GatewayStore | null = null;
  try {
    // The store as the serving gateway opens it: reservations in memory, settlements batched.
    store = await openStore(`file:${path}`, undefined, { serving: true });
    const owners: string[] = [];
    for (let i = 0; i < OWNERS; i++)
      owners.push((await store.createOwner({ kind: 'team', name: `team ${i}` })).id);
    const keys: { id: string; owner: string }[] = [];
    for (let i = 0; i < KEYS; i++) {
      const owner = owners[i % OWNERS]!;
      keys.push({ id: (await store.createKey({ alias: `key ${i}`, ownerId: owner })).key.id, owner });
    }

    // Bulk load through a second connection, with the statements and indexes the gateway uses.
    const db = new BetterSqlite3(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('cache_size = -65536');
    const insert =
      db.prepare(`INSERT INTO usage (request_id, created_at, key_id, owner_id, model, provider, upstream_model,
      endpoint, stream, prompt_tokens, completion_tokens, cost_nusd, reserved_nusd, latency_ms, ttft_ms, status,
      http_status, metered_by, node_ids, receipt_digest, error)
      VALUES (?, ?, ?, ?, ?, 'cascadia', 'smollm2-135m-instruct', 'chat.completions', 1, ?, ?, ?, ?, ?, ?, 'ok', 200,
      'upstream', '["node-a","node-b"]', ?, NULL)`);
    type Cell = [number, string, string, string, number, number, number, number];
    const rollup = new Map<string, Cell>();
    const daily = new Map<string, Cell>();
    const add = (
      map: Map<string, Cell>,
      bucket: number,
      keyId: string,
      owner: string,
      model: string,
      prompt: number,
      completion: number,
      cost: number,
    ) => {
      const cell = `${bucket}|${keyId}|${model}`;
      const agg = map.get(cell);
      if (agg) {
        agg[4]++;
        agg[5] += prompt;
        agg[6] += completion;
        agg[7] += cost;
      } else map.set(cell, [bucket, keyId, model, owner, 1, prompt, completion, cost]);
    };
    const start = Date.now() - SPAN_DAYS * DAY;
    const step = (SPAN_DAYS * DAY) / rows;
    const digest = 'ab'.repeat(32);
    const batch = 50_000;
    const load = await time(() => {
      for (let first = 0; first < rows; first += batch) {
        db.transaction(() => {
          for (let i = first; i < Math.min(rows, first + batch); i++) {
            const key = keys[(i * 7919) % KEYS]!;
            const model = MODELS[i % MODELS.length]!;
            const createdAt = Math.floor(start + i * step);
            const prompt = 20 + (i % 200);
            const completion = 10 + (i % 300);
            const cost = prompt * 1000 + completion * 2000;
            const id = newRequestId(createdAt);
            insert.run(
              id,
              createdAt,
              key.id,
              key.owner,
              model,
              prompt,
              completion,
              cost,
              cost * 3,
              120,
              40,
              digest,
            );
            add(
              rollup,
              Math.floor(createdAt / HOUR) * HOUR,
              key.id,
              key.owner,
              model,
              prompt,
              completion,
              cost,
            );
            add(daily, Math.floor(createdAt / DAY) * DAY, key.id, key.owner, model, prompt, completion, cost);
          }
        })();
      }
      const insertRollup = db.prepare(
        `INSERT INTO usage_hourly (hour_start, key_id, model, owner_id, requests, errors, prompt_tokens, completion_tokens, cost_nusd)
         VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)`,
      );
      const insertDaily = db.prepare(
        `INSERT INTO usage_daily (day_start, key_id, model, owner_id, requests, errors, prompt_tokens, completion_tokens, cost_nusd)
         VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)`,
      );
      db.transaction(() => {
        for (const agg of rollup.values()) insertRollup.run(...agg);
        for (const agg of daily.values()) insertDaily.run(...agg);
      })();
    });
    db.close();

    // Per-call path at this size: reserve and settle exactly as the serving gateway runs them.
    const calls = 5000;
    const settle = await time(async () => {
      for (let i = 0; i < calls; i++) {
        const key = keys[i % KEYS]!;
        const id = `bench_${i}`;
        await store!.reserve({ id, keyId: key.id, ownerId: key.owner, amountNusd: 5000, ttlMs: 60_000 });
        // As the serving gateway at concurrency 1: once the call's upstream request is out, the
        // settlements waiting are folded (written to the ledger) in one transaction if 8 or more wait.
        store!.upstreamWaiting?.();
        await new Promise((resolve) => setImmediate(resolve));
        await store!.settle({
          reservationId: id,
          keyId: key.id,
          ownerId: key.owner,
          costNusd: 3000,
          row: {
            createdAt: Date.now(),
            model: MODELS[0]!,
            provider: 'cascadia',
            upstreamModel: 'smollm2-135m-instruct',
            endpoint: 'chat.completions',
            stream: true,
            promptTokens: 20,
            completionTokens: 10,
            reservedNusd: 5000,
            latencyMs: 100,
            ttftMs: 30,
            status: 'ok',
            httpStatus: 200,
            meteredBy: 'upstream',
            nodeIds: ['node-a'],
            receiptDigest: digest,
            error: null,
          },
        });
      }
      await store!.listUsage({ limit: 1 }); // folds the last settlement
    });

    const now = Date.now();
    const key0 = keys[0]!;
    const owner0 = owners[0]!;
    const s = store;
    const q = {
      summaryByModel30d: await queryTime(() =>
        s.summarizeUsage({ groupBy: 'model', from: now - 30 * DAY, to: now }),
      ),
      summaryByKey30d: await queryTime(() =>
        s.summarizeUsage({ groupBy: 'key', from: now - 30 * DAY, to: now }),
      ),
      summaryOneOwner7d: await queryTime(() =>
        s.summarizeUsage({ groupBy: 'model', ownerId: owner0, from: now - 7 * DAY, to: now }),
      ),
      seriesDailyByModel: await queryTime(() =>
        s.usageSeries({ groupBy: 'model', bucket: 'day', from: now - 30 * DAY, to: now }),
      ),
      seriesHourlyOneKey: await queryTime(() =>
        s.usageSeries({ groupBy: 'key', bucket: 'hour', keyId: key0.id, from: now - DAY, to: now }),
      ),
      usageFirstPageOneKey: await queryTime(() => s.listUsage({ keyId: key0.id, limit: 50 })),
      usagePage20OneKey: await queryTime(async () => {
        let cursor: string | null = null;
        for (let p = 0; p < 20; p++)
          cursor = (await s.listUsage({ keyId: key0.id, limit: 50, cursor })).nextCursor;
      }, 3),
    };
    // For comparison: the same 30-day summary computed by scanning the ledger itself.
    const raw = new BetterSqlite3(path, { readonly: true });
    const scan = await queryTime(
      async () =>
        raw
          .prepare('SELECT model, SUM(cost_nusd) FROM usage WHERE created_at >= ? GROUP BY model')
          .all(now - 30 * DAY),
      1,
    );
    raw.close();

    const sizeMb =
      (statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0)) / 1024 / 1024;
    console.log(
      `\n== ledger at ${rows.toLocaleString('en')} rows on SQLite (${KEYS} keys, ${OWNERS} owners, ${MODELS.length} models, ${SPAN_DAYS} days; ${rollup.size.toLocaleString('en')} hourly and ${daily.size.toLocaleString('en')} daily roll-up rows)`,
    );
    console.log(
      `bulk insert (50k-row transactions, all indexes): ${(rows / (load.ms / 1000)).toFixed(0)} rows/s (${(load.ms / 1000).toFixed(1)} s)`,
    );
    console.log(
      `per call at that size, one at a time (reserve in memory + settle: journal line, and its fold: ledger row, 2 roll-ups, key and owner budgets, one transaction per 8 calls): ${(calls / (settle.ms / 1000)).toFixed(0)} calls/s`,
    );
    for (const [name, ms] of Object.entries(q)) console.log(`${name.padEnd(24)} ${ms.toFixed(2)} ms`);
    console.log(
      `${'ledger scan (no roll-up)'.padEnd(24)} ${scan.toFixed(0)} ms  (the 30-day model summary computed from the raw ledger)`,
    );
    console.log(`database file: ${sizeMb.toFixed(0)} MB`);
  } finally {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
