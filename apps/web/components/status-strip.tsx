'use client';
/** One line on the home page: is the gateway up, how many nodes serve, how much budget is left. */
import Link from 'next/link';
import { formatUsd } from '../lib/format';
import { useSession } from './session-provider';

export function StatusStrip() {
  const { status, statusError } = useSession();
  if (statusError) {
    return (
      <p className="strip strip-bad" role="status">
        Could not reach this app's server: {statusError}
      </p>
    );
  }
  if (!status) return <p className="strip">Checking the gateway and the mesh…</p>;
  const nodes = (status.fleet as { nodes?: { health?: string }[] } | null)?.nodes ?? [];
  const healthy = nodes.filter((n) => n.health === 'healthy').length;
  const ok = status.gateway.healthy && healthy > 0 && status.keys !== null;
  return (
    <p className={`strip ${ok ? 'strip-ok' : 'strip-bad'}`} role="status">
      <span className={`dot ${status.gateway.healthy ? 'dot-ok' : 'dot-bad'}`} aria-hidden="true" /> Gateway{' '}
      {status.gateway.healthy ? 'up' : 'down'} · {healthy} of {nodes.length} mesh nodes healthy · budget left{' '}
      {status.budget ? formatUsd(status.budget.remaining_usd) : 'unknown'}
      {status.problems.length > 0 ? ` · ${status.problems.length} problem(s), ` : ' · '}
      <Link href="/status">details</Link>
    </p>
  );
}
