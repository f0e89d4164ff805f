'use client';
/** The receipt badge a step shows, and the receipt details one click away. */
import { useId, useState } from 'react';
import { formatSeconds, shortKey } from '../lib/format';
import { REASON_LABELS } from '../lib/verify';
import type { StepRecord } from './session-provider';

export function VerificationBadge({ verification }: { verification: StepRecord['verification'] }) {
  switch (verification.status) {
    case 'verified':
      return (
        <span className="pill pill-ok" data-verification="verified">
          ✓ Receipt verified
        </span>
      );
    case 'failed':
      return (
        <span className="pill pill-bad" data-verification="failed" title={verification.detail}>
          ✗ Receipt failed: {REASON_LABELS[verification.reason] ?? verification.reason}
        </span>
      );
    case 'unavailable':
      return (
        <span className="pill pill-warn" data-verification="unavailable" title={verification.detail}>
          ? Not checked
        </span>
      );
    default:
      return (
        <span className="pill" data-verification="pending">
          Verifying…
        </span>
      );
  }
}

interface ReceiptStage {
  statement?: {
    node_id?: string;
    layer_start?: number;
    layer_end?: number;
    tokens?: number;
    shard_digest?: string;
    started_at?: string;
    finished_at?: string;
  };
  signature?: string;
}
interface ReceiptLike {
  request_id?: string;
  created_at?: string;
  model_id?: string;
  coordinator_id?: string;
  output_digest?: string;
  request_digest?: string;
  signature?: string;
  stages?: ReceiptStage[];
}

export function ReceiptDetails({ record }: { record: StepRecord }) {
  const [open, setOpen] = useState(false);
  const panelId = useId();
  const receipt = (record.cascadia?.receipt ?? null) as ReceiptLike | null;
  return (
    <div className="receipt">
      <div className="receipt-row">
        <VerificationBadge verification={record.verification} />
        <button
          type="button"
          className="link-button"
          aria-expanded={open}
          aria-controls={panelId}
          onClick={() => setOpen(!open)}
        >
          {open ? 'Hide receipt' : 'Receipt details'}
        </button>
      </div>
      {open && (
        <div id={panelId} className="receipt-panel">
          {record.verification.status === 'failed' || record.verification.status === 'unavailable' ? (
            <p className="receipt-problem">{record.verification.detail}</p>
          ) : null}
          {record.verification.status === 'verified' && receipt ? (
            <p className="receipt-ok">
              Checked in this browser: the coordinator's signature, {receipt.stages?.length ?? 0} node stage
              signatures against the published keys, contiguous layers, node ids, and that the signed output
              digest is the SHA-256 of the text shown.
            </p>
          ) : null}
          {receipt ? (
            <>
              <dl className="kv">
                <dt>Request</dt>
                <dd>
                  <code>{receipt.request_id}</code>
                </dd>
                <dt>Coordinator</dt>
                <dd>
                  <code>{receipt.coordinator_id}</code>
                </dd>
                <dt>Model</dt>
                <dd>{receipt.model_id}</dd>
                <dt>Output digest</dt>
                <dd>
                  <code title={receipt.output_digest}>{shortKey(receipt.output_digest ?? '', 16)}</code>
                </dd>
                <dt>Signature</dt>
                <dd>
                  <code title={receipt.signature}>{shortKey(receipt.signature ?? '', 16)}</code>
                </dd>
              </dl>
              <div className="table-scroll">
                <table className="table compact-table">
                  <caption>Signed stages</caption>
                  <thead>
                    <tr>
                      <th scope="col">Node</th>
                      <th scope="col">Layers</th>
                      <th scope="col">Positions</th>
                      <th scope="col">Time</th>
                      <th scope="col">Shard</th>
                    </tr>
                  </thead>
                  <tbody>
                    {(receipt.stages ?? []).map((stage, index) => {
                      const s = stage.statement ?? {};
                      const ms =
                        s.started_at && s.finished_at
                          ? Date.parse(s.finished_at) - Date.parse(s.started_at)
                          : null;
                      return (
                        <tr key={`${s.node_id}-${index}`}>
                          <td>
                            <code>{s.node_id}</code>
                          </td>
                          <td>
                            {s.layer_start}–{s.layer_end}
                          </td>
                          <td>{s.tokens}</td>
                          <td>{formatSeconds(ms)}</td>
                          <td>
                            <code title={s.shard_digest}>{shortKey(s.shard_digest ?? '', 10)}</code>
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
              <details>
                <summary>Raw receipt JSON</summary>
                <pre className="json" data-testid="receipt-json">
                  {JSON.stringify(receipt, null, 2)}
                </pre>
              </details>
            </>
          ) : (
            <p>No receipt came back with this response.</p>
          )}
        </div>
      )}
    </div>
  );
}
