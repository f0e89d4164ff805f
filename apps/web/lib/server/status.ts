/**
 * `/api/gateway`: gateway health, the models the demo key may use, its remaining budget, the mesh's
 * published public keys (which the browser verifies receipts with) and the fleet status. Each part
 * is fetched independently, so one being down is reported without hiding the others.
 */
import type { Budget, GatewayStatus, PublishedKeys } from '../api-types';
import type { ServerConfig } from './config';
import { gatewayGet, getJson } from './gateway-client';

export async function handleGatewayStatus(config: ServerConfig): Promise<Response> {
  const problems: GatewayStatus['problems'] = [];
  const noKey = {
    ok: false as const,
    failure: { status: 503, code: 'not_configured', message: 'No gateway key configured.' },
  };
  const [health, models, info, keys, fleet] = await Promise.all([
    getJson<unknown>(`${config.gatewayUrl}/health`, { what: 'gateway' }),
    config.virtualKey
      ? gatewayGet<{ data?: { id: string }[] }>(config, '/v1/models')
      : Promise.resolve(noKey),
    config.virtualKey
      ? gatewayGet<{ budget?: Budget | null }>(config, '/v1/key/info')
      : Promise.resolve(noKey),
    config.keysUrl
      ? getJson<PublishedKeys>(config.keysUrl, { what: "mesh's key directory" })
      : Promise.resolve({
          ok: false as const,
          failure: {
            status: 503,
            code: 'not_configured',
            message: 'CASCADIA_KEYS_URL is not set, so receipts cannot be verified.',
          },
        }),
    config.nodesUrl
      ? getJson<unknown>(config.nodesUrl, { what: "mesh's fleet endpoint" })
      : Promise.resolve({
          ok: false as const,
          failure: { status: 503, code: 'not_configured', message: 'CASCADIA_NODES_URL is not set.' },
        }),
  ]);
  if (!health.ok) problems.push({ part: 'gateway', message: health.failure.message });
  if (!models.ok) problems.push({ part: 'models', message: models.failure.message });
  if (!info.ok) problems.push({ part: 'budget', message: info.failure.message });
  if (!keys.ok) problems.push({ part: 'keys', message: keys.failure.message });
  if (!fleet.ok) problems.push({ part: 'fleet', message: fleet.failure.message });

  const body: GatewayStatus = {
    model: config.model,
    gateway: { healthy: health.ok, health: health.ok ? health.value : null },
    models: models.ok ? (models.value.data ?? []).map((model) => model.id) : [],
    budget: info.ok ? (info.value.budget ?? null) : null,
    keys: keys.ok ? keys.value : null,
    fleet: fleet.ok ? fleet.value : null,
    problems,
  };
  return Response.json(body, { headers: { 'cache-control': 'no-store' } });
}
