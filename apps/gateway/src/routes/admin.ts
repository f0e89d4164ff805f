import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { errors, GatewayError } from '../errors.js';
import { usdToNano } from '../money.js';
import { bearerToken } from '../plugins/virtual-key-auth.js';
import { InvalidCursorError } from '../store/sql-ledger.js';
import type { BudgetInput } from '../store/types.js';
import { keyView, ownerView, priceView, seriesView, summaryView, usageRowView } from '../views.js';
import { limitInput, parseInput, timeInput } from './query.js';

export interface AdminOptions {
  /** GATEWAY_MASTER_KEY; when absent the admin API answers 401 admin_disabled. */
  masterKey: string | null;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time comparison (hashing first makes the lengths equal). */
export function masterKeyMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

const period = z.enum(['daily', 'weekly', 'monthly']).nullable().optional();
const budgetBody = z.object({ max_usd: z.number().nonnegative().nullable(), period }).strict();
const metadata = z.record(z.string(), z.unknown()).nullable().optional();
const models = z.array(z.string().min(1)).nullable().optional();
const limit = z.number().int().positive().nullable().optional();

const createKeyBody = z
  .object({
    alias: z.string().min(1).max(200),
    owner_id: z.string().min(1).nullable().optional(),
    models,
    metadata,
    expires_at: timeInput.nullable().optional(),
    rpm_limit: limit,
    tpm_limit: limit,
    budget: budgetBody.nullable().optional(),
  })
  .strict();
const updateKeyBody = createKeyBody.omit({ budget: true }).partial().strict();
const rotateBody = z
  .object({
    grace_seconds: z
      .number()
      .int()
      .nonnegative()
      .max(30 * 86_400)
      .optional(),
  })
  .strict();
const ownerBody = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/)
      .optional(),
    kind: z.enum(['user', 'team']),
    name: z.string().min(1).max(200),
    metadata,
    budget: budgetBody.nullable().optional(),
  })
  .strict();
const priceBody = z
  .object({
    model: z.string().min(1),
    input_per_million: z.number().nonnegative(),
    output_per_million: z.number().nonnegative(),
    effective_from: timeInput.optional(),
  })
  .strict();
const usageQuery = z.object({
  key_id: z.string().optional(),
  owner_id: z.string().optional(),
  model: z.string().optional(),
  from: timeInput.optional(),
  to: timeInput.optional(),
  limit: limitInput,
  cursor: z.string().min(1).optional(),
});
const summaryQuery = z.object({
  group_by: z.enum(['key', 'owner', 'model']).default('model'),
  key_id: z.string().optional(),
  owner_id: z.string().optional(),
  model: z.string().optional(),
  from: timeInput.optional(),
  to: timeInput.optional(),
});
const seriesQuery = summaryQuery.extend({ bucket: z.enum(['hour', 'day']).default('hour') });
const listKeysQuery = z.object({
  owner_id: z.string().optional(),
  include_revoked: z.enum(['true', 'false']).optional(),
});

export function budgetInput(body: z.infer<typeof budgetBody>): BudgetInput {
  return { maxNusd: body.max_usd === null ? null : usdToNano(body.max_usd), period: body.period };
}

type IdParams = { Params: { id: string } };

/** The control plane: keys, owners, budgets, prices and usage, behind the master key. */
export const adminRoutes = fp<AdminOptions>(
  async (app: FastifyInstance, options) => {
    const authenticateAdmin = async (request: FastifyRequest) => {
      if (!options.masterKey) throw errors.adminDisabled();
      const token = bearerToken(request);
      if (!token || !masterKeyMatches(token, options.masterKey)) {
        app.metrics.authFailures.inc({ reason: 'admin' });
        throw errors.invalidMasterKey();
      }
    };

    const requireOwner = async (ownerId: string | null | undefined) => {
      if (ownerId && !(await app.store.getOwner(ownerId))) {
        throw errors.invalidRequest(`Owner '${ownerId}' does not exist.`, 'owner_id', 'owner_not_found');
      }
    };

    await app.register(async (admin) => {
      admin.addHook('preHandler', authenticateAdmin);

      admin.post('/admin/keys', async (request, reply) => {
        const body = parseInput(createKeyBody, request.body, 'body');
        await requireOwner(body.owner_id);
        const { key, secret } = await app.store.createKey({
          alias: body.alias,
          ownerId: body.owner_id ?? null,
          models: body.models ?? null,
          metadata: body.metadata ?? null,
          expiresAt: body.expires_at ?? null,
          rpmLimit: body.rpm_limit ?? null,
          tpmLimit: body.tpm_limit ?? null,
          budget: body.budget ? budgetInput(body.budget) : null,
        });
        reply.code(201);
        return { ...keyView(key), key: secret };
      });

      admin.get('/admin/keys', async (request) => {
        const query = parseInput(listKeysQuery, request.query, 'query');
        const keys = await app.store.listKeys({
          ownerId: query.owner_id,
          includeRevoked: query.include_revoked === 'true',
        });
        return { data: keys.map(keyView) };
      });

      admin.get<IdParams>('/admin/keys/:id', async (request) => {
        const key = await app.store.getKey(request.params.id);
        if (!key) throw errors.notFound(`Key '${request.params.id}'`);
        return keyView(key);
      });

      admin.patch<IdParams>('/admin/keys/:id', async (request) => {
        const body = parseInput(updateKeyBody, request.body, 'body');
        await requireOwner(body.owner_id);
        const key = await app.store.updateKey(request.params.id, {
          alias: body.alias,
          ownerId: body.owner_id,
          models: body.models,
          metadata: body.metadata,
          expiresAt: body.expires_at,
          rpmLimit: body.rpm_limit,
          tpmLimit: body.tpm_limit,
        });
        if (!key) throw errors.notFound(`Key '${request.params.id}'`);
        return keyView(key);
      });

      const revoke = async (request: FastifyRequest<IdParams>) => {
        const key = await app.store.revokeKey(request.params.id);
        if (!key) throw errors.notFound(`Key '${request.params.id}'`);
        return keyView(key);
      };
      admin.post<IdParams>('/admin/keys/:id/revoke', revoke);
      admin.delete<IdParams>('/admin/keys/:id', revoke);

      admin.post<IdParams>('/admin/keys/:id/rotate', async (request) => {
        const body = parseInput(rotateBody, request.body, 'body');
        const rotated = await app.store.rotateKey(request.params.id, body.grace_seconds ?? 0);
        if (!rotated) throw errors.notFound(`Active key '${request.params.id}'`);
        return { ...keyView(rotated.key), key: rotated.secret };
      });

      admin.put<IdParams>('/admin/keys/:id/budget', async (request) => {
        const body = parseInput(budgetBody, request.body, 'body');
        const key = await app.store.setKeyBudget(request.params.id, budgetInput(body));
        if (!key) throw errors.notFound(`Key '${request.params.id}'`);
        return keyView(key);
      });

      admin.post('/admin/owners', async (request, reply) => {
        const body = parseInput(ownerBody, request.body, 'body');
        if (body.id && (await app.store.getOwner(body.id))) {
          throw new GatewayError(
            409,
            'invalid_request_error',
            'owner_exists',
            `Owner '${body.id}' already exists.`,
            'id',
          );
        }
        const owner = await app.store.createOwner({
          id: body.id,
          kind: body.kind,
          name: body.name,
          metadata: body.metadata ?? null,
          budget: body.budget ? budgetInput(body.budget) : null,
        });
        reply.code(201);
        return ownerView(owner);
      });

      admin.get('/admin/owners', async () => ({ data: (await app.store.listOwners()).map(ownerView) }));

      admin.get<IdParams>('/admin/owners/:id', async (request) => {
        const owner = await app.store.getOwner(request.params.id);
        if (!owner) throw errors.notFound(`Owner '${request.params.id}'`);
        return ownerView(owner);
      });

      admin.put<IdParams>('/admin/owners/:id/budget', async (request) => {
        const body = parseInput(budgetBody, request.body, 'body');
        const owner = await app.store.setOwnerBudget(request.params.id, budgetInput(body));
        if (!owner) throw errors.notFound(`Owner '${request.params.id}'`);
        return ownerView(owner);
      });

      admin.get('/admin/pricing', async (request) => {
        const query = parseInput(z.object({ model: z.string().optional() }), request.query, 'query');
        return { data: (await app.store.listPrices(query.model)).map(priceView) };
      });

      admin.post('/admin/pricing', async (request, reply) => {
        const body = parseInput(priceBody, request.body, 'body');
        const price = await app.store.setPrice({
          model: body.model,
          inputPerMillion: body.input_per_million,
          outputPerMillion: body.output_per_million,
          effectiveFrom: body.effective_from ?? Date.now(),
        });
        await app.pricing.reload();
        reply.code(201);
        return priceView(price);
      });

      admin.get('/admin/usage', async (request) => {
        const q = parseInput(usageQuery, request.query, 'query');
        try {
          const page = await app.store.listUsage({
            keyId: q.key_id,
            ownerId: q.owner_id,
            model: q.model,
            from: q.from,
            to: q.to,
            limit: q.limit,
            cursor: q.cursor,
          });
          return { data: page.data.map(usageRowView), next_cursor: page.nextCursor };
        } catch (error) {
          if (error instanceof InvalidCursorError) throw errors.invalidRequest('Invalid cursor.', 'cursor');
          throw error;
        }
      });

      admin.get('/admin/usage/summary', async (request) => {
        const q = parseInput(summaryQuery, request.query, 'query');
        const rows = await app.store.summarizeUsage({
          groupBy: q.group_by,
          keyId: q.key_id,
          ownerId: q.owner_id,
          model: q.model,
          from: q.from,
          to: q.to,
        });
        return { group_by: q.group_by, data: rows.map(summaryView) };
      });

      admin.get('/admin/usage/timeseries', async (request) => {
        const q = parseInput(seriesQuery, request.query, 'query');
        const points = await app.store.usageSeries({
          groupBy: q.group_by,
          bucket: q.bucket,
          keyId: q.key_id,
          ownerId: q.owner_id,
          model: q.model,
          from: q.from,
          to: q.to,
        });
        return { group_by: q.group_by, bucket: q.bucket, data: points.map(seriesView) };
      });
    });
  },
  { name: 'admin', dependencies: ['gateway-core'] },
);
