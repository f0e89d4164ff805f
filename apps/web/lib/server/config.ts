/**
 * Server-only configuration, read from the environment on every request (so tests and
 * deployments can change it without a rebuild). Nothing here may be imported by a client component:
 * `GATEWAY_VIRTUAL_KEY` must never reach the browser.
 */
export interface ServerConfig {
  gatewayUrl: string;
  /** The gateway virtual key this app spends from; undefined when the deployment has none. */
  virtualKey: string | undefined;
  model: string;
  keysUrl: string | undefined;
  nodesUrl: string | undefined;
}

export const DEFAULT_MODEL = 'cascadia:smollm2-135m-instruct';

export function readServerConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  return {
    gatewayUrl: (env.GATEWAY_URL || 'http://127.0.0.1:4000').replace(/\/+$/, ''),
    virtualKey: env.GATEWAY_VIRTUAL_KEY || undefined,
    model: env.DEMO_MODEL || DEFAULT_MODEL,
    keysUrl: env.CASCADIA_KEYS_URL || undefined,
    nodesUrl: env.CASCADIA_NODES_URL || undefined,
  };
}
