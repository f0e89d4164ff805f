'use client';
/** Spend and tokens of the demo key (from the gateway's ledger), per step of this session. */
import { useEffect } from 'react';
import { formatSeconds, formatTime, formatUsd } from '../lib/format';
import { usageRowFor, useSession } from './session-provider';
import { SpendChart } from './spend-chart';

export function UsageView() {
  const { usage, usageError, refreshUsage, records } = useSession();
  useEffect(() => {
    void refreshUsage();
  }, [refreshUsage]);
  const budget = usage?.budget ?? null;
  const spent = budget?.spent_usd ?? usage?.rows.reduce((sum, row) => sum + row.cost_usd, 0) ?? 0;
  const fraction = budget?.max_usd
    ? Math.min(1, (spent + (budget.reserved_usd ?? 0)) / budget.max_usd)
    : null;
  const sessionCost = records.reduce((sum, r) => sum + (usageRowFor(r, usage)?.cost_usd ?? 0), 0);

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Usage</h1>
          <p className="lead">
            What the gateway metered for this app's virtual key: every call priced and recorded in its ledger.
          </p>
        </div>
        <button type="button" className="button" onClick={() => void refreshUsage()}>
          Refresh
        </button>
      </div>
      {usageError && (
        <p className="banner banner-error" role="alert">
          {usageError}
        </p>
      )}
      <div className="cards-3">
        <div className="card stat-card">
          <p className="muted">Spent</p>
          <p className="big" data-testid="spent">
            {formatUsd(spent)}
          </p>
          {budget?.max_usd ? (
            <p className="muted">of {formatUsd(budget.max_usd)} budget</p>
          ) : (
            <p className="muted">no budget cap</p>
          )}
          {fraction !== null && (
            <meter min={0} max={1} value={fraction} low={0.7} high={0.9} optimum={0} aria-label="Budget used">
              {Math.round(fraction * 100)}%
            </meter>
          )}
        </div>
        <div className="card stat-card">
          <p className="muted">Remaining</p>
          <p className="big">{budget ? formatUsd(budget.remaining_usd) : '—'}</p>
          {budget?.resets_at ? (
            <p className="muted">resets {new Date(budget.resets_at).toLocaleString()}</p>
          ) : null}
        </div>
        <div className="card stat-card">
          <p className="muted">Calls on this key</p>
          <p className="big" data-testid="call-count">
            {usage?.rows.length ?? '—'}
          </p>
          <p className="muted">
            this session: {records.length} · {formatUsd(sessionCost)}
          </p>
        </div>
      </div>
      <section className="card" aria-labelledby="chart-heading">
        <h2 id="chart-heading">Spend over time</h2>
        <SpendChart
          points={(usage?.rows ?? []).map((row) => ({
            at: Date.parse(row.created_at),
            costUsd: row.cost_usd,
          }))}
          budgetUsd={budget?.max_usd}
        />
      </section>
      <section aria-labelledby="steps-heading">
        <h2 id="steps-heading">Per step, this session</h2>
        {records.length === 0 ? (
          <p className="card empty">No calls yet in this session.</p>
        ) : (
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Demo / step</th>
                  <th scope="col" className="num">
                    Tokens in
                  </th>
                  <th scope="col" className="num">
                    Tokens out
                  </th>
                  <th scope="col" className="num">
                    Latency
                  </th>
                  <th scope="col" className="num">
                    Cost
                  </th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {[...records].reverse().map((record) => {
                  const row = usageRowFor(record, usage);
                  return (
                    <tr key={record.id} data-testid="usage-row">
                      <td>{formatTime(record.finishedAt)}</td>
                      <td>
                        {record.demoTitle} / {record.stepTitle}
                        {record.attempt === 2 ? <span className="muted"> (retry)</span> : null}
                      </td>
                      <td className="num">{row?.prompt_tokens ?? record.usage?.prompt_tokens ?? '—'}</td>
                      <td className="num">
                        {row?.completion_tokens ?? record.usage?.completion_tokens ?? '—'}
                      </td>
                      <td className="num">
                        {formatSeconds(row?.latency_ms ?? record.finishedAt - record.startedAt)}
                      </td>
                      <td className="num">{row ? formatUsd(row.cost_usd) : 'not in ledger yet'}</td>
                      <td>{row?.status ?? '—'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
