/** Display helpers shared by the views. */
export function formatUsd(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (value === 0) return '$0';
  // Demo calls cost fractions of a cent: keep enough digits to see each one move the total.
  const fixed = value.toFixed(Math.abs(value) < 0.01 ? 6 : 4);
  return `$${fixed.replace(/(\.\d\d\d*?)0+$/, '$1')}`;
}

export function formatSeconds(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function shortKey(value: string, keep = 10): string {
  return value.length > keep + 1 ? `${value.slice(0, keep)}…` : value;
}

export function formatTime(iso: string | number): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleTimeString();
}
