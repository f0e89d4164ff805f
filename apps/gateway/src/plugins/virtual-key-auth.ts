import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { errors } from '../errors.js';

/** Reads `Authorization: Bearer <virtual key>`; the key itself is never logged or echoed. */
export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

export const virtualKeyAuthPlugin = fp(
  async (app: FastifyInstance) => {
    app.decorate('authenticateKey', async (request: FastifyRequest) => {
      const token = bearerToken(request);
      if (!token) {
        app.metrics.authFailures.inc({ reason: 'missing' });
        throw errors.missingKey();
      }
      const now = Date.now();
      const key = await app.store.findKeyBySecret(token, now);
      if (!key) {
        app.metrics.authFailures.inc({ reason: 'unknown' });
        throw errors.invalidKey('unknown');
      }
      if (key.revokedAt !== null) {
        app.metrics.authFailures.inc({ reason: 'revoked' });
        throw errors.invalidKey('revoked');
      }
      if (key.expiresAt !== null && key.expiresAt <= now) {
        app.metrics.authFailures.inc({ reason: 'expired' });
        throw errors.invalidKey('expired');
      }
      request.virtualKey = key;
    });
  },
  { name: 'virtual-key-auth', dependencies: ['gateway-core'] },
);
