import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { errors } from '../errors.js';
import { InvalidCursorError } from '../store/sql-ledger.js';
import { budgetView, ownerView, usageRowView } from '../views.js';
import { limitInput, parseInput } from './query.js';

const usageQuery = z.object({ limit: limitInput, cursor: z.string().min(1).optional() });

/** What a virtual-key holder may see about its own key: `/v1/key/info` and `/v1/usage`. */
export const keyHolderRoutes = fp(
  async (app: FastifyInstance) => {
    const preHandler = (request: FastifyRequest) => app.authenticateKey(request);

    app.get('/v1/key/info', { preHandler }, async (request) => {
      const key = request.virtualKey!;
      const owner = key.ownerId ? await app.store.getOwner(key.ownerId) : null;
      return {
        key: {
          id: key.id,
          alias: key.alias,
          key_prefix: key.keyPrefix,
          models: key.models,
          expires_at: key.expiresAt === null ? null : new Date(key.expiresAt).toISOString(),
          metadata: key.metadata,
          rpm_limit: key.rpmLimit,
          tpm_limit: key.tpmLimit,
        },
        budget: budgetView(key.budget),
        owner: owner ? ownerView(owner) : null,
      };
    });

    app.get('/v1/usage', { preHandler }, async (request) => {
      const query = parseInput(usageQuery, request.query, 'query');
      try {
        const page = await app.store.listUsage({
          keyId: request.virtualKey!.id,
          limit: query.limit,
          cursor: query.cursor,
        });
        return { data: page.data.map(usageRowView), next_cursor: page.nextCursor };
      } catch (error) {
        if (error instanceof InvalidCursorError) throw errors.invalidRequest('Invalid cursor.', 'cursor');
        throw error;
      }
    });
  },
  { name: 'key-holder', dependencies: ['gateway-core', 'virtual-key-auth'] },
);
