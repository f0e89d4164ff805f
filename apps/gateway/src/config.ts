// The config file (YAML or JSON): providers and routes (read by @cascadia/providers), plus pricing,
// owners and settings (read here). Keys are never in config files: create them with the CLI or API.
import {
  createDefaultProviders,
  createProviderRegistry,
  createProvidersFromConfig,
  type Env,
  type ProviderRegistry,
  type ProvidersConfig,
  parseProvidersConfig,
  readConfigFile,
} from '@cascadia/providers';
import { z } from 'zod';
import { usdToNano } from './money.js';
import { timeInput } from './routes/query.js';
import type { GatewaySettings } from './settings.js';
import type { BudgetInput, CreateOwnerInput, GatewayStore } from './store/types.js';
import { createUpstreamFetch } from './upstream-fetch.js';

const budgetSchema = z
  .object({
    max_usd: z.number().nonnegative().nullable(),
    period: z.enum(['daily', 'weekly', 'monthly']).nullable().optional(),
  })
  .strict();

const gatewaySectionsSchema = z.looseObject({
  pricing: z
    .array(
      z
        .object({
          model: z.string().min(1),
          input_per_million: z.number().nonnegative(),
          output_per_million: z.number().nonnegative(),
          effective_from: timeInput.optional(),
        })
        .strict(),
    )
    .optional(),
  owners: z
    .array(
      z
        .object({
          id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/),
          kind: z.enum(['user', 'team']),
          name: z.string().min(1),
          metadata: z.record(z.string(), z.unknown()).optional(),
          budget: budgetSchema.optional(),
        })
        .strict(),
    )
    .optional(),
  settings: z
    .object({
      allow_unpriced: z.union([z.boolean(), z.array(z.string())]).optional(),
      default_max_tokens: z.number().int().positive().optional(),
      inject_max_tokens: z.boolean().optional(),
      bytes_per_token: z.number().positive().optional(),
      upstream_timeout_ms: z.number().int().positive().optional(),
      reservation_ttl_ms: z.number().int().positive().optional(),
      reclaim_interval_ms: z.number().int().positive().optional(),
      body_limit_bytes: z.number().int().positive().optional(),
      pricing_refresh_ms: z.number().int().positive().optional(),
    })
    .strict()
    .optional(),
  keys: z
    .never({
      error: 'keys cannot be declared in a config file; create them with `cascadia-gateway keys create`',
    })
    .optional(),
});

export interface GatewayConfig {
  providers: ProvidersConfig;
  pricing: { model: string; inputPerMillion: number; outputPerMillion: number; effectiveFrom: number }[];
  owners: (CreateOwnerInput & { id: string })[];
  settings: Partial<GatewaySettings>;
}

export class GatewayConfigError extends Error {}

export function parseGatewayConfig(
  raw: unknown,
  options: { env?: Env; source?: string } = {},
): GatewayConfig {
  const where = options.source ? ` in ${options.source}` : '';
  const parsed = gatewaySectionsSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GatewayConfigError(
      `Invalid config${where}: '${issue?.path.join('.') ?? ''}' ${issue?.message ?? 'is invalid'}`,
    );
  }
  const data = parsed.data;
  const s = data.settings ?? {};
  const settings: Partial<GatewaySettings> = {};
  if (s.allow_unpriced !== undefined) settings.allowUnpriced = s.allow_unpriced;
  if (s.default_max_tokens !== undefined) settings.defaultMaxTokens = s.default_max_tokens;
  if (s.inject_max_tokens !== undefined) settings.injectMaxTokens = s.inject_max_tokens;
  if (s.bytes_per_token !== undefined) settings.bytesPerToken = s.bytes_per_token;
  if (s.upstream_timeout_ms !== undefined) settings.upstreamTimeoutMs = s.upstream_timeout_ms;
  if (s.reservation_ttl_ms !== undefined) settings.reservationTtlMs = s.reservation_ttl_ms;
  if (s.reclaim_interval_ms !== undefined) settings.reclaimIntervalMs = s.reclaim_interval_ms;
  if (s.body_limit_bytes !== undefined) settings.bodyLimitBytes = s.body_limit_bytes;
  if (s.pricing_refresh_ms !== undefined) settings.pricingRefreshMs = s.pricing_refresh_ms;
  const budget = (b: z.infer<typeof budgetSchema> | undefined): BudgetInput | undefined =>
    b ? { maxNusd: b.max_usd === null ? null : usdToNano(b.max_usd), period: b.period ?? null } : undefined;
  return {
    providers: parseProvidersConfig(raw ?? {}, { env: options.env, source: options.source }),
    pricing: (data.pricing ?? []).map((p) => ({
      model: p.model,
      inputPerMillion: p.input_per_million,
      outputPerMillion: p.output_per_million,
      // Undated config prices apply since the epoch, so a restart never creates a new version.
      effectiveFrom: p.effective_from ?? 0,
    })),
    owners: (data.owners ?? []).map((o) => ({
      id: o.id,
      kind: o.kind,
      name: o.name,
      metadata: o.metadata ?? null,
      budget: budget(o.budget),
    })),
    settings,
  };
}

export async function loadGatewayConfig(
  path: string | undefined,
  env: Env = process.env,
): Promise<GatewayConfig> {
  if (!path) return parseGatewayConfig({}, { env });
  return parseGatewayConfig(await readConfigFile(path), { env, source: path });
}

/** The mesh and OpenAI from the environment, then the config's providers (same name replaces), plus routes. */
export function registryFromConfig(config: GatewayConfig, env: Env = process.env): ProviderRegistry {
  const fetch = createUpstreamFetch();
  return createProviderRegistry({
    providers: [
      ...createDefaultProviders({ env, fetch }),
      ...createProvidersFromConfig(config.providers.providers, { env, fetch }),
    ],
    routes: config.providers.routes,
    env,
    fetch,
  });
}

/** Applies owners and prices from the config; idempotent, so it runs on every start. */
export async function bootstrapStore(store: GatewayStore, config: GatewayConfig): Promise<void> {
  for (const owner of config.owners) await store.upsertOwner(owner);
  const existing = new Set(
    (await store.listPrices()).map(
      (p) => `${p.model}\u0000${p.effectiveFrom}\u0000${p.inputPerMillion}\u0000${p.outputPerMillion}`,
    ),
  );
  for (const price of config.pricing) {
    const id = `${price.model}\u0000${price.effectiveFrom}\u0000${price.inputPerMillion}\u0000${price.outputPerMillion}`;
    if (!existing.has(id)) await store.setPrice(price);
  }
}
