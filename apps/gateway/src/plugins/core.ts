import { randomFillSync } from 'node:crypto';
import type { ProviderRegistry } from '@cascadia/providers';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Logger } from 'pino';
import { errors, GatewayError, sendError } from '../errors.js';
import { createMetrics } from '../metrics.js';
import { PricingCache } from '../pricing-cache.js';
import { RateLimiter } from '../rate-limit.js';
import type { GatewaySettings } from '../settings.js';
import type { GatewayStore } from '../store/types.js';
import '../types.js';

export interface CoreOptions {
  /** Where `call settled` lines go (null: not logged). */
  callLog: Logger | null;
  store: GatewayStore;
  registry: ProviderRegistry;
  settings: GatewaySettings;
}

/**
 * `req_` + the time in milliseconds (9 base-36 digits, so ids sort by time) + 64 random bits. The id
 * is the ledger's primary key: time-ordered ids append to the B-tree instead of landing on random
 * pages, which keeps inserts fast at tens of millions of rows.
 */
export function newRequestId(now = Date.now()): string {
  return `req_${now.toString(36).padStart(9, '0')}${randomSuffix()}`;
}

/**
 * 64 random bits, base64url. Taken from a pool refilled 512 ids at a time: one CSPRNG call per id
 * cost about 12 us, a slice of the pool well under one.
 */
const RANDOM_POOL = Buffer.alloc(8 * 512);
let randomOffset = RANDOM_POOL.length;
function randomSuffix(): string {
  if (randomOffset === RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomOffset = 0;
  }
  const suffix = RANDOM_POOL.toString('base64url', randomOffset, randomOffset + 8);
  randomOffset += 8;
  return suffix;
}

/**
 * Shared state (store, providers, metrics, prices, rate limits), the JSON body parser, request ids,
 * the OpenAI-shaped error and 404 handlers, and the reservation reclaimer.
 */
export const corePlugin = fp<CoreOptions>(
  async (app: FastifyInstance, options) => {
    app.decorate('store', options.store);
    app.decorate('callLog', options.callLog);
    app.decorate('registry', options.registry);
    app.decorate('settings', options.settings);
    app.decorate('metrics', createMetrics());
    app.decorate('pricing', new PricingCache(options.store));
    app.decorate('rateLimiter', new RateLimiter());
    app.decorateRequest('virtualKey', null);
    app.decorateRequest('bodyBytes', 0);
    app.decorateRequest('callModel', null);
    app.decorateRequest('requestCounted', false);

    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      ['application/json', 'text/plain'],
      { parseAs: 'buffer', bodyLimit: options.settings.bodyLimitBytes },
      (request, body: Buffer, done) => {
        request.bodyBytes = body.length;
        if (body.length === 0) return done(null, undefined);
        try {
          done(null, JSON.parse(body.toString('utf8')));
        } catch {
          done(errors.invalidRequest('The request body is not valid JSON.', null, 'invalid_json'));
        }
      },
    );
    app.addContentTypeParser('*', (_request, _payload, done) => {
      done(
        new GatewayError(
          415,
          'invalid_request_error',
          'unsupported_media_type',
          'Send the body as application/json.',
        ),
      );
    });

    app.addHook('onRequest', (request, reply, done) => {
      reply.header('x-request-id', request.id);
      done();
    });

    app.setErrorHandler(
      (error: FastifyError | GatewayError, request: FastifyRequest, reply: FastifyReply) => {
        if (error instanceof GatewayError) return sendError(reply, error);
        if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
          return sendError(
            reply,
            new GatewayError(
              413,
              'invalid_request_error',
              'request_too_large',
              'The request body is too large.',
            ),
          );
        }
        if (typeof error.statusCode === 'number' && error.statusCode < 500) {
          return sendError(
            reply,
            errors.invalidRequest(error.message, null, error.code ?? 'invalid_request'),
          );
        }
        request.log.error({ err: error, request_id: request.id }, 'unhandled error');
        return sendError(
          reply,
          new GatewayError(
            500,
            'server_error',
            'internal_error',
            `Internal gateway error (request ${request.id}).`,
          ),
        );
      },
    );
    app.setNotFoundHandler((request, reply) =>
      sendError(reply, errors.notFound(`Route ${request.method} ${request.url.split('?')[0]}`)),
    );

    let reclaimTimer: NodeJS.Timeout | null = null;
    const reclaim = async () => {
      const count = await app.store.reclaimExpiredReservations();
      if (count > 0) {
        app.metrics.reservationsReclaimed.inc(count);
        app.log.warn({ count }, 'reclaimed expired budget reservations');
      }
    };
    app.addHook('onReady', async () => {
      await app.pricing.reload();
      app.pricing.start(options.settings.pricingRefreshMs, (err) =>
        app.log.error({ err }, 'price reload failed'),
      );
      // Reservations left by a crashed process (kill -9) are returned once they expire.
      await reclaim();
      reclaimTimer = setInterval(
        () => reclaim().catch((err) => app.log.error({ err }, 'reservation reclaim failed')),
        options.settings.reclaimIntervalMs,
      );
      reclaimTimer.unref();
    });
    app.addHook('onClose', async () => {
      app.pricing.stop();
      if (reclaimTimer) clearInterval(reclaimTimer);
    });
  },
  { name: 'gateway-core', fastify: '5.x' },
);
