/**
 * Small authenticated GETs against the gateway (and the mesh's public endpoints) for the usage and
 * status routes, with a timeout and errors already translated for visitors.
 */
import type { ServerConfig } from './config';
import { describeGatewayFailure, describeNetworkFailure, type UpstreamFailure } from './errors';

export type Fetched<T> = { ok: true; value: T } | { ok: false; failure: UpstreamFailure };

const TIMEOUT_MS = 5_000;

export async function getJson<T>(
  url: string,
  opts: { key?: string; secret?: string; what: string },
): Promise<Fetched<T>> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: opts.key ? { authorization: `Bearer ${opts.key}`, accept: 'application/json' } : {},
      signal: AbortSignal.timeout(TIMEOUT_MS),
      cache: 'no-store',
    });
  } catch (err) {
    return { ok: false, failure: describeNetworkFailure(err, opts.what) };
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) return { ok: false, failure: describeGatewayFailure(response.status, text, opts.secret) };
  try {
    return { ok: true, value: JSON.parse(text) as T };
  } catch {
    return {
      ok: false,
      failure: {
        status: 502,
        code: 'bad_upstream_json',
        message: `The ${opts.what} answered with something that is not JSON.`,
      },
    };
  }
}

export function gatewayGet<T>(config: ServerConfig, path: string, what = 'gateway'): Promise<Fetched<T>> {
  return getJson<T>(`${config.gatewayUrl}${path}`, {
    key: config.virtualKey,
    secret: config.virtualKey,
    what,
  });
}
