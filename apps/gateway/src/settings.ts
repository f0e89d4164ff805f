/** Operational settings of the gateway (config file `settings:` section, snake_case there). */
export interface GatewaySettings {
  /** Unpriced models fail closed (402) unless listed here, or `true` for all. */
  allowUnpriced: boolean | string[];
  /** Completion-token cap reserved (and sent upstream as `max_tokens`) when the client sets none. */
  defaultMaxTokens: number;
  /** Send `max_tokens: defaultMaxTokens` upstream when the client set no cap, so the reservation is a real bound. */
  injectMaxTokens: boolean;
  /** Prompt tokens are reserved as ceil(body bytes / bytesPerToken); 1 is an upper bound for byte-level BPE. */
  bytesPerToken: number;
  /** Whole-call deadline (headers and body, streams included); the upstream is aborted after it. */
  upstreamTimeoutMs: number;
  /** How long a reservation lives if its request never settles (crash): deadline plus a margin. */
  reservationTtlMs: number;
  /** How often expired reservations are returned to their budgets. */
  reclaimIntervalMs: number;
  /** Maximum request body size. */
  bodyLimitBytes: number;
  /** How often the in-memory price table is reloaded (admin writes on this replica apply at once). */
  pricingRefreshMs: number;
}

export const DEFAULT_SETTINGS: GatewaySettings = {
  allowUnpriced: false,
  defaultMaxTokens: 4096,
  injectMaxTokens: true,
  bytesPerToken: 1,
  upstreamTimeoutMs: 600_000,
  reservationTtlMs: 660_000,
  reclaimIntervalMs: 30_000,
  bodyLimitBytes: 8 * 1024 * 1024,
  pricingRefreshMs: 5_000,
};

export function resolveSettings(partial: Partial<GatewaySettings> = {}): GatewaySettings {
  const settings = { ...DEFAULT_SETTINGS, ...partial };
  // A reservation must outlive the call it covers, or a slow call could be reclaimed while running.
  if (settings.reservationTtlMs < settings.upstreamTimeoutMs) {
    settings.reservationTtlMs = settings.upstreamTimeoutMs + 60_000;
  }
  return settings;
}

export function isUnpricedAllowed(settings: GatewaySettings, model: string): boolean {
  return (
    settings.allowUnpriced === true ||
    (Array.isArray(settings.allowUnpriced) && settings.allowUnpriced.includes(model))
  );
}
