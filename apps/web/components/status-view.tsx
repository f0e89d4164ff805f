'use client';
/** Gateway and mesh at a glance: health, models, budget, published keys, nodes and their shards. */
import { useEffect } from 'react';
import { formatUsd, shortKey } from '../lib/format';
import { useSession } from './session-provider';

interface FleetNodeView {
  node_id?: string;
  health?: string;
  status?: string;
  host?: string;
  port?: number;
  shard?: { model_id?: string; layer_start?: number; layer_end?: number; digest?: string };
  report?: { device?: string; engine?: string; memory?: { total_bytes?: number; free_bytes?: number } };
  device?: string;
  engine?: string;
  memory?: { total_bytes?: number; free_bytes?: number };
  address?: string;
}

interface FleetModelView {
  model_id?: string;
  servable?: boolean;
  route?: { node_id: string; layer_start: number; layer_end: number }[] | null;
}

function fleetModels(fleet: unknown): FleetModelView[] {
  const body = fleet as { placement?: unknown; models?: unknown } | null;
  const models = body?.placement ?? body?.models;
  return Array.isArray(models) ? (models as FleetModelView[]) : [];
}

function fleetNodes(fleet: unknown): FleetNodeView[] | null {
  if (Array.isArray(fleet)) return fleet as FleetNodeView[];
  const nodes = (fleet as { nodes?: unknown } | null)?.nodes;
  if (!Array.isArray(nodes)) return null;
  // In pipeline order: the node holding the first layers first.
  return [...(nodes as FleetNodeView[])].sort(
    (a, b) => (a.shard?.layer_start ?? 0) - (b.shard?.layer_start ?? 0),
  );
}

function gib(bytes: number | undefined): string {
  return bytes === undefined ? '—' : `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function StatusView() {
  const { status, statusError, refreshStatus } = useSession();
  useEffect(() => {
    void refreshStatus();
    const timer = setInterval(() => void refreshStatus(), 10_000);
    return () => clearInterval(timer);
  }, [refreshStatus]);
  const nodes = fleetNodes(status?.fleet);
  const problem = (part: string) => status?.problems.find((p) => p.part === part)?.message;

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Status</h1>
          <p className="lead">
            The gateway this app calls and the mesh behind it. Refreshes every 10 seconds.
          </p>
        </div>
        <button type="button" className="button" onClick={() => void refreshStatus()}>
          Refresh
        </button>
      </div>
      {statusError && (
        <p className="banner banner-error" role="alert">
          Could not load the status: {statusError}
        </p>
      )}
      {status?.problems.length ? (
        <ul className="banner banner-error problems" role="alert" aria-label="Problems">
          {status.problems.map((p) => (
            <li key={p.part}>
              <strong>{p.part}</strong>: {p.message}
            </li>
          ))}
        </ul>
      ) : null}
      <div className="cards-3">
        <div className="card stat-card">
          <p className="muted">Gateway</p>
          <p className="big">
            <span className={`dot ${status?.gateway.healthy ? 'dot-ok' : 'dot-bad'}`} aria-hidden="true" />
            <span data-testid="gateway-health">
              {status ? (status.gateway.healthy ? 'Healthy' : 'Down') : '…'}
            </span>
          </p>
          <p className="muted">
            model <code>{status?.model ?? '…'}</code>
          </p>
        </div>
        <div className="card stat-card">
          <p className="muted">Budget remaining</p>
          <p className="big">{status?.budget ? formatUsd(status.budget.remaining_usd) : '—'}</p>
          <p className="muted">
            {status?.budget?.max_usd
              ? `of ${formatUsd(status.budget.max_usd)}`
              : (problem('budget') ?? 'no cap')}
          </p>
        </div>
        <div className="card stat-card">
          <p className="muted">Mesh nodes</p>
          <p className="big" data-testid="node-count">
            {nodes ? nodes.length : '—'}
          </p>
          <p className="muted">
            {status?.keys ? `coordinator ${status.keys.coordinator.id}` : (problem('keys') ?? '…')}
          </p>
        </div>
      </div>
      <section aria-labelledby="nodes-heading">
        <h2 id="nodes-heading">Nodes and shards</h2>
        {nodes && nodes.length > 0 ? (
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Health</th>
                  <th scope="col">Model</th>
                  <th scope="col">Layers</th>
                  <th scope="col">Device</th>
                  <th scope="col" className="num">
                    Free memory
                  </th>
                  <th scope="col">Shard digest</th>
                </tr>
              </thead>
              <tbody>
                {nodes.map((node, index) => {
                  const health = node.health ?? node.status ?? 'unknown';
                  return (
                    <tr key={node.node_id ?? index} data-testid="node-row">
                      <td>
                        <code>{node.node_id}</code>
                      </td>
                      <td>
                        <span
                          className={`pill ${health === 'healthy' ? 'pill-ok' : health === 'stale' ? 'pill-warn' : 'pill-bad'}`}
                        >
                          {health}
                        </span>
                      </td>
                      <td>{node.shard?.model_id ?? '—'}</td>
                      <td>{node.shard ? `${node.shard.layer_start}–${node.shard.layer_end}` : '—'}</td>
                      <td>
                        {[node.report?.device ?? node.device, node.report?.engine ?? node.engine]
                          .filter(Boolean)
                          .join(' · ') || '—'}
                      </td>
                      <td className="num">{gib((node.memory ?? node.report?.memory)?.free_bytes)}</td>
                      <td>
                        <code title={node.shard?.digest}>{shortKey(node.shard?.digest ?? '', 12)}</code>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        ) : (
          <p className="card empty">{problem('fleet') ?? 'No node reported by the mesh.'}</p>
        )}
        {fleetModels(status?.fleet).map((model) => (
          <p key={model.model_id} className="route" data-testid="model-route">
            <strong>{model.model_id}</strong>{' '}
            {model.servable && model.route ? (
              <>
                is served by the pipeline{' '}
                {model.route.map((stage, index) => (
                  <span key={stage.node_id}>
                    {index > 0 ? ' → ' : ''}
                    <code className="chip">{stage.node_id}</code> (layers {stage.layer_start}–
                    {stage.layer_end})
                  </span>
                ))}
              </>
            ) : (
              <span className="pill pill-bad">not servable: no complete pipeline of healthy nodes</span>
            )}
          </p>
        ))}
        {status?.fleet ? (
          <details>
            <summary>Raw fleet report</summary>
            <pre className="json">{JSON.stringify(status.fleet, null, 2)}</pre>
          </details>
        ) : null}
      </section>
      <section aria-labelledby="models-heading" className="two-col">
        <div className="card">
          <h2 id="models-heading">Models on the gateway</h2>
          {status?.models.length ? (
            <ul className="plain">
              {status.models.map((m) => (
                <li key={m}>
                  <code>{m}</code>
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">{problem('models') ?? 'None listed.'}</p>
          )}
        </div>
        <div className="card">
          <h2>Published signing keys</h2>
          {status?.keys ? (
            <dl className="kv">
              <dt>Coordinator {status.keys.coordinator.id}</dt>
              <dd>
                <code>{status.keys.coordinator.public_key}</code>
              </dd>
              {status.keys.nodes.map((n) => (
                <div key={n.node_id} className="contents">
                  <dt>{n.node_id}</dt>
                  <dd>
                    <code>{n.public_key}</code>
                  </dd>
                </div>
              ))}
            </dl>
          ) : (
            <p className="muted">{problem('keys') ?? '…'}</p>
          )}
        </div>
      </section>
    </>
  );
}
