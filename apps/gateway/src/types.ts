// Fastify decorators of the gateway, typed by module augmentation.
import type { ProviderRegistry } from '@cascadia/providers';
import type { Logger } from 'pino';
import type { GatewayMetrics } from './metrics.js';
import type { PricingCache } from './pricing-cache.js';
import type { RateLimiter } from './rate-limit.js';
import type { GatewaySettings } from './settings.js';
import type { GatewayStore, KeyRecord } from './store/types.js';

declare module 'fastify' {
  interface FastifyInstance {
    store: GatewayStore;
    registry: ProviderRegistry;
    settings: GatewaySettings;
    metrics: GatewayMetrics;
    pricing: PricingCache;
    rateLimiter: RateLimiter;
    /** The `call settled` lines' logger (null when logging is off). */
    callLog: Logger | null;
    /** Verifies the virtual key of a data-plane request (preHandler). */
    authenticateKey: (request: FastifyRequest) => Promise<void>;
  }
  interface FastifyRequest {
    /** The authenticated virtual key (set by authenticateKey). */
    virtualKey: KeyRecord | null;
    /** Size of the request body as received, for the reservation estimate. */
    bodyBytes: number;
    /** The model of a data-plane call, once known (metrics label). */
    callModel: string | null;
    /** gateway_requests_total was already incremented for this request. */
    requestCounted: boolean;
  }
}
