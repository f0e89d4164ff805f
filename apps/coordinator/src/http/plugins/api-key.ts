/**
 * Optional API key (CASCADIA_API_KEY): when set, the OpenAI routes and the fleet view need
 * `Authorization: Bearer <key>`; when unset the mesh is keyless (as any-llm's cascadia provider
 * allows). Health, metrics, published keys and the node join protocol (which has its own proof)
 * stay open.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import { ApiError, sendError } from '../errors.js';

const PROTECTED = ['/v1/chat/completions', '/v1/completions', '/v1/models', '/v1/cascadia/nodes'];
const NODE_PROTOCOL = '/v1/cascadia/fleet/';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export const apiKeyPlugin = fp(
  async (app, opts: { apiKey?: string | undefined }) => {
    const expected = opts.apiKey ? digest(opts.apiKey) : null;
    if (!expected) return;
    app.addHook('onRequest', async (request, reply) => {
      const url = request.url.split('?')[0] ?? '';
      if (url.startsWith(NODE_PROTOCOL)) return;
      if (!PROTECTED.some((p) => url === p || url.startsWith(`${p}/`))) return;
      const header = request.headers.authorization ?? '';
      const match = /^Bearer\s+(.+)$/i.exec(header);
      // Compare digests so the comparison is constant-time whatever the presented length.
      if (!match?.[1] || !timingSafeEqual(digest(match[1].trim()), expected)) {
        return sendError(
          reply,
          new ApiError(401, 'invalid_request_error', 'invalid_api_key', 'Incorrect or missing API key.'),
        );
      }
    });
  },
  { name: 'api-key' },
);
