#!/usr/bin/env node
// cascadia-gateway: serve, and manage keys, owners, budgets, prices and usage. Management commands
// talk to the database directly (DATABASE_URL or --database), so they work with or without a
// running gateway and need no master key: whoever can run them can read the database anyway.
import { parseArgs } from 'node:util';
import { DEFAULT_DATABASE_URL } from './db/open.js';
import { nanoToUsd, usdToNano } from './money.js';
import { type BudgetPeriod, type GatewayStore, openStore } from './store/index.js';
import { keyView, ownerView, priceView, summaryView, usageRowView } from './views.js';

const USAGE = `usage: cascadia-gateway <command> [options]

  serve [--config FILE] [--host 127.0.0.1] [--port 4000]
  keys create --alias NAME [--budget USD] [--period daily|weekly|monthly] [--models a,b]
              [--owner ID] [--expires ISO] [--rpm N] [--tpm N] [--json]
  keys list [--owner ID] [--all] [--json]
  keys revoke KEY_ID
  keys rotate KEY_ID [--grace SECONDS] [--json]
  budget set (--key KEY_ID | --owner OWNER_ID) --usd USD|none [--period daily|weekly|monthly|none]
  owners create --kind user|team --name NAME [--id ID] [--budget USD] [--period P] [--json]
  owners list [--json]
  pricing set --model MODEL --input USD_PER_M --output USD_PER_M [--from ISO]
  pricing list [--json]
  usage [--key KEY_ID] [--owner OWNER_ID] [--limit N] [--summary --group-by key|owner|model] [--json]
  migrate

Every command takes --database URL (default: env DATABASE_URL, else ${DEFAULT_DATABASE_URL}).
Env: GATEWAY_MASTER_KEY (admin API), HOST, PORT, GATEWAY_CONFIG, LOG_LEVEL.`;

class UsageError extends Error {}

const options = {
  config: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  database: { type: 'string' },
  alias: { type: 'string' },
  budget: { type: 'string' },
  period: { type: 'string' },
  models: { type: 'string' },
  owner: { type: 'string' },
  key: { type: 'string' },
  expires: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  grace: { type: 'string' },
  usd: { type: 'string' },
  kind: { type: 'string' },
  name: { type: 'string' },
  id: { type: 'string' },
  model: { type: 'string' },
  input: { type: 'string' },
  output: { type: 'string' },
  from: { type: 'string' },
  limit: { type: 'string' },
  'group-by': { type: 'string' },
  summary: { type: 'boolean' },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number`);
  return n;
}

function period(value: string | undefined): BudgetPeriod | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return null;
  if (value === 'daily' || value === 'weekly' || value === 'monthly') return value;
  throw new UsageError('--period must be daily, weekly, monthly or none');
}

function time(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new UsageError(`--${name} must be an ISO-8601 date or time`);
  return ms;
}

function print(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

function money(nano: number | null): string {
  return nano === null ? 'unlimited' : `$${nanoToUsd(nano).toFixed(4)}`;
}

async function withStore<T>(values: Values, fn: (store: GatewayStore) => Promise<T>): Promise<T> {
  const store = await openStore(values.database ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL, {
    schema: process.env.GATEWAY_PG_SCHEMA,
  });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function keys(sub: string | undefined, args: string[], v: Values): Promise<void> {
  switch (sub) {
    case 'create': {
      if (!v.alias) throw new UsageError('keys create needs --alias NAME');
      const budgetUsd = number(v.budget, 'budget');
      const p = period(v.period);
      await withStore(v, async (store) => {
        if (v.owner && !(await store.getOwner(v.owner)))
          throw new UsageError(`owner '${v.owner}' does not exist`);
        const { key, secret } = await store.createKey({
          alias: v.alias!,
          ownerId: v.owner ?? null,
          models: v.models
            ? v.models
                .split(',')
                .map((m) => m.trim())
                .filter(Boolean)
            : null,
          expiresAt: time(v.expires, 'expires') ?? null,
          rpmLimit: number(v.rpm, 'rpm') ?? null,
          tpmLimit: number(v.tpm, 'tpm') ?? null,
          budget:
            budgetUsd === undefined && !p
              ? null
              : { maxNusd: budgetUsd === undefined ? null : usdToNano(budgetUsd), period: p ?? null },
        });
        print(
          v.json,
          { ...keyView(key), key: secret },
          `${secret}\n\nid ${key.id}  alias ${key.alias}  budget ${money(key.budget.maxNusd)}\n` +
            'This is the only time the key is shown: store it now.',
        );
      });
      return;
    }
    case 'list':
      await withStore(v, async (store) => {
        const list = await store.listKeys({ ownerId: v.owner, includeRevoked: v.all });
        const lines = list.map(
          (k) =>
            `${k.id}  ${k.keyPrefix}  ${k.alias}  spent ${money(k.budget.spentNusd)} of ${money(k.budget.maxNusd)}` +
            `${k.revokedAt ? '  REVOKED' : ''}`,
        );
        print(v.json, { data: list.map(keyView) }, lines.join('\n') || '(no keys)');
      });
      return;
    case 'revoke': {
      const id = args[0];
      if (!id) throw new UsageError('keys revoke needs KEY_ID');
      await withStore(v, async (store) => {
        const key = await store.revokeKey(id);
        if (!key) throw new UsageError(`key '${id}' not found`);
        print(v.json, keyView(key), `revoked ${key.id} (${key.alias})`);
      });
      return;
    }
    case 'rotate': {
      const id = args[0];
      if (!id) throw new UsageError('keys rotate needs KEY_ID');
      await withStore(v, async (store) => {
        const rotated = await store.rotateKey(id, number(v.grace, 'grace') ?? 0);
        if (!rotated) throw new UsageError(`active key '${id}' not found`);
        print(
          v.json,
          { ...keyView(rotated.key), key: rotated.secret },
          `${rotated.secret}\n\nrotated ${id}; store the new key now.`,
        );
      });
      return;
    }
    default:
      throw new UsageError(`unknown keys command '${sub ?? ''}'`);
  }
}

async function budget(sub: string | undefined, v: Values): Promise<void> {
  if (sub !== 'set') throw new UsageError(`unknown budget command '${sub ?? ''}'`);
  if (!v.usd) throw new UsageError('budget set needs --usd USD (or --usd none)');
  if (!v.key === !v.owner)
    throw new UsageError('budget set needs exactly one of --key KEY_ID or --owner OWNER_ID');
  const maxNusd = v.usd === 'none' ? null : usdToNano(number(v.usd, 'usd')!);
  const input = { maxNusd, period: period(v.period) };
  await withStore(v, async (store) => {
    if (v.key) {
      const key = await store.setKeyBudget(v.key, input);
      if (!key) throw new UsageError(`key '${v.key}' not found`);
      print(
        v.json,
        keyView(key),
        `key ${key.id}: budget ${money(key.budget.maxNusd)} (${key.budget.period ?? 'no reset'})`,
      );
    } else {
      const owner = await store.setOwnerBudget(v.owner!, input);
      if (!owner) throw new UsageError(`owner '${v.owner}' not found`);
      print(
        v.json,
        ownerView(owner),
        `owner ${owner.id}: budget ${money(owner.budget.maxNusd)} (${owner.budget.period ?? 'no reset'})`,
      );
    }
  });
}

async function owners(sub: string | undefined, v: Values): Promise<void> {
  await withStore(v, async (store) => {
    if (sub === 'list') {
      const list = await store.listOwners();
      print(
        v.json,
        { data: list.map(ownerView) },
        list
          .map(
            (o) =>
              `${o.id}  ${o.kind}  ${o.name}  spent ${money(o.budget.spentNusd)} of ${money(o.budget.maxNusd)}`,
          )
          .join('\n') || '(no owners)',
      );
      return;
    }
    if (sub !== 'create') throw new UsageError(`unknown owners command '${sub ?? ''}'`);
    if (v.kind !== 'user' && v.kind !== 'team') throw new UsageError('owners create needs --kind user|team');
    if (!v.name) throw new UsageError('owners create needs --name NAME');
    const usd = number(v.budget, 'budget');
    const p = period(v.period);
    const owner = await store.createOwner({
      id: v.id,
      kind: v.kind,
      name: v.name,
      budget:
        usd === undefined && !p
          ? null
          : { maxNusd: usd === undefined ? null : usdToNano(usd), period: p ?? null },
    });
    print(v.json, ownerView(owner), `created ${owner.kind} ${owner.id} (${owner.name})`);
  });
}

async function pricing(sub: string | undefined, v: Values): Promise<void> {
  await withStore(v, async (store) => {
    if (sub === 'list') {
      const list = await store.listPrices();
      print(
        v.json,
        { data: list.map(priceView) },
        list
          .map(
            (p) =>
              `${p.model}  in $${p.inputPerMillion}/M  out $${p.outputPerMillion}/M  from ${new Date(p.effectiveFrom).toISOString()}`,
          )
          .join('\n') || '(no prices: every model is unpriced)',
      );
      return;
    }
    if (sub !== 'set') throw new UsageError(`unknown pricing command '${sub ?? ''}'`);
    if (!v.model) throw new UsageError('pricing set needs --model MODEL');
    const input = number(v.input, 'input');
    const output = number(v.output, 'output');
    if (input === undefined || output === undefined)
      throw new UsageError('pricing set needs --input and --output (USD per million tokens)');
    const price = await store.setPrice({
      model: v.model,
      inputPerMillion: input,
      outputPerMillion: output,
      effectiveFrom: time(v.from, 'from') ?? Date.now(),
    });
    print(v.json, priceView(price), `priced ${price.model}: in $${input}/M, out $${output}/M`);
  });
}

async function usage(v: Values): Promise<void> {
  await withStore(v, async (store) => {
    if (v.summary) {
      const groupBy = v['group-by'] ?? 'model';
      if (groupBy !== 'key' && groupBy !== 'owner' && groupBy !== 'model')
        throw new UsageError('--group-by must be key, owner or model');
      const rows = await store.summarizeUsage({ groupBy, keyId: v.key, ownerId: v.owner });
      print(
        v.json,
        { group_by: groupBy, data: rows.map(summaryView) },
        rows
          .map(
            (r) =>
              `${r.group ?? '(none)'}  ${r.requests} calls  ${r.promptTokens}+${r.completionTokens} tokens  ${money(r.costNusd)}`,
          )
          .join('\n') || '(no usage)',
      );
      return;
    }
    const page = await store.listUsage({
      keyId: v.key,
      ownerId: v.owner,
      limit: number(v.limit, 'limit') ?? 20,
    });
    print(
      v.json,
      { data: page.data.map(usageRowView), next_cursor: page.nextCursor },
      page.data
        .map(
          (r) =>
            `${new Date(r.createdAt).toISOString()}  ${r.requestId}  ${r.model}  ${r.status}  ` +
            `${r.promptTokens}+${r.completionTokens} tokens  $${nanoToUsd(r.costNusd).toFixed(9)}  ${r.latencyMs} ms`,
        )
        .join('\n') || '(no usage)',
    );
  });
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const [command, sub, ...rest] = positionals;
  if (v.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || v.help ? 0 : 2;
  }
  try {
    switch (command) {
      case 'serve': {
        const { serve } = await import('./server.js');
        await serve({
          configPath: v.config,
          databaseUrl: v.database,
          host: v.host,
          port: number(v.port, 'port'),
        });
        return -1; // keeps running until a signal
      }
      case 'keys':
        await keys(sub, rest, v);
        return 0;
      case 'budget':
        await budget(sub, v);
        return 0;
      case 'owners':
        await owners(sub, v);
        return 0;
      case 'pricing':
        await pricing(sub, v);
        return 0;
      case 'usage':
        await usage(v);
        return 0;
      case 'migrate':
        await withStore(v, async (store) =>
          print(v.json, { ok: true, dialect: store.dialect }, `database is migrated (${store.dialect})`),
        );
        return 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`cascadia-gateway: ${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`cascadia-gateway: ${(error as Error).message}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
