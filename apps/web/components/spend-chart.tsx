/** Cumulative spend over time as a small SVG step chart, with a text summary for screen readers. */
import { formatTime, formatUsd } from '../lib/format';

export interface SpendPoint {
  at: number;
  costUsd: number;
}

const W = 900;
const H = 220;
const PAD = { left: 88, right: 16, top: 16, bottom: 32 };

export function SpendChart({ points, budgetUsd }: { points: SpendPoint[]; budgetUsd?: number | null }) {
  const sorted = [...points].sort((a, b) => a.at - b.at);
  let total = 0;
  const cumulative = sorted.map((p) => {
    total += p.costUsd;
    return { at: p.at, total };
  });
  if (cumulative.length === 0) return <p className="muted">No spend recorded yet.</p>;
  const first = cumulative[0]!.at;
  const last = cumulative.at(-1)!.at;
  const span = Math.max(last - first, 1);
  const maxY = Math.max(total, 1e-9) * 1.15;
  const x = (at: number) => PAD.left + ((at - first) / span) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / maxY) * (H - PAD.top - PAD.bottom);
  let d = `M ${x(first)} ${y(0)}`;
  for (const p of cumulative) d += ` H ${x(p.at)} V ${y(p.total)}`;
  const area = `${d} H ${x(last)} V ${y(0)} Z`;
  const ticks = [0, maxY / 2, maxY];
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-labelledby="spend-title spend-desc"
        data-testid="spend-chart"
      >
        <title id="spend-title">Cumulative spend of the demo key</title>
        <desc id="spend-desc">
          {`${cumulative.length} calls from ${formatTime(first)} to ${formatTime(last)}, ${formatUsd(total)} in total${budgetUsd ? ` of a ${formatUsd(budgetUsd)} budget` : ''}.`}
        </desc>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} className="chart-grid" />
            <text x={PAD.left - 8} y={y(t) + 4} textAnchor="end" className="chart-label">
              {formatUsd(t)}
            </text>
          </g>
        ))}
        <path d={area} className="chart-area" />
        <path d={d} className="chart-line" />
        {cumulative.map((p) => (
          <circle key={`${p.at}-${p.total}`} cx={x(p.at)} cy={y(p.total)} r={3} className="chart-dot" />
        ))}
        <text x={PAD.left} y={H - 8} className="chart-label">
          {formatTime(first)}
        </text>
        <text x={W - PAD.right} y={H - 8} textAnchor="end" className="chart-label">
          {formatTime(last)}
        </text>
      </svg>
    </figure>
  );
}
