/** `/api/usage`: the demo key's ledger rows and budget, from the gateway's usage and key-info APIs. */
import type { Budget, UsageResponse, UsageRow } from '../api-types';
import type { ServerConfig } from './config';
import { errorResponse } from './errors';
import { gatewayGet } from './gateway-client';

/** Ledger rows fetched at most (newest first); the demo only needs a session's worth. */
const MAX_ROWS = 500;
const PAGE = 100;

interface KeyInfo {
  key?: { alias?: string | null };
  budget?: Budget | null;
}

export async function handleUsage(config: ServerConfig): Promise<Response> {
  if (!config.virtualKey) {
    return errorResponse(
      503,
      'not_configured',
      'This deployment has no gateway key configured.',
      'server_error',
    );
  }
  const rows: UsageRow[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) query.set('cursor', cursor);
    const page = await gatewayGet<{ data?: UsageRow[]; next_cursor?: string | null }>(
      config,
      `/v1/usage?${query}`,
    );
    if (!page.ok)
      return errorResponse(page.failure.status, page.failure.code, page.failure.message, 'upstream_error');
    rows.push(...(page.value.data ?? []));
    cursor = page.value.next_cursor ?? null;
  } while (cursor && rows.length < MAX_ROWS);

  const info = await gatewayGet<KeyInfo>(config, '/v1/key/info');
  if (!info.ok)
    return errorResponse(info.failure.status, info.failure.code, info.failure.message, 'upstream_error');
  const body: UsageResponse = {
    rows,
    budget: info.value.budget ?? null,
    key_alias: info.value.key?.alias ?? null,
  };
  return Response.json(body, { headers: { 'cache-control': 'no-store' } });
}
