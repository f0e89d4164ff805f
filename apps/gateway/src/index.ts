export { buildApp, type GatewayAppOptions, REDACTED_LOG_PATHS } from './app.js';
export {
  bootstrapStore,
  type GatewayConfig,
  GatewayConfigError,
  loadGatewayConfig,
  parseGatewayConfig,
  registryFromConfig,
} from './config.js';
export type { Database, Dialect } from './db/database.js';
export { DEFAULT_DATABASE_URL, openDatabase } from './db/open.js';
export { GatewayError, type OpenAIErrorBody } from './errors.js';
export { costNano, nanoToUsd, type Price, usdToNano } from './money.js';
export { type ServeOptions, serve } from './server.js';
export { DEFAULT_SETTINGS, type GatewaySettings } from './settings.js';
export * from './store/index.js';
