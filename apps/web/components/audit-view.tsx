'use client';
/**
 * Every call of this session with its receipt and the browser's verification, plus a box to verify
 * any receipt: paste one, or take a real one, change a byte, and watch the check fail.
 */
import { useId, useState } from 'react';
import { formatTime } from '../lib/format';
import { REASON_LABELS, type Verification, verifyPasted } from '../lib/verify';
import { ReceiptDetails, VerificationBadge } from './receipt-view';
import { type StepRecord, useSession } from './session-provider';

/** A copy of the receipt with one signed field changed (what a forger or a broken hop would do). */
function tamperedCopy(record: StepRecord): string {
  const receipt = structuredClone(record.cascadia?.receipt) as { usage?: { completion_tokens?: number } };
  if (receipt?.usage) receipt.usage.completion_tokens = (receipt.usage.completion_tokens ?? 0) + 1;
  return JSON.stringify(receipt, null, 2);
}

export function AuditView() {
  const { records, clearRecords, keys, statusError } = useSession();
  const [pasted, setPasted] = useState('');
  const [result, setResult] = useState<Verification | null>(null);
  const [checking, setChecking] = useState(false);
  const boxId = useId();
  const verified = records.filter((r) => r.verification.status === 'verified').length;
  const failed = records.filter((r) => r.verification.status === 'failed').length;

  const check = async (json: string) => {
    setChecking(true);
    setResult(await verifyPasted(json, keys));
    setChecking(false);
  };

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Audit</h1>
          <p className="lead">
            Each call's receipt is checked in this browser: the coordinator's and every node's ed25519
            signature against the keys the mesh publishes, and the signed output digest against the text you
            received.
          </p>
        </div>
        <div className="stat-row">
          <span className="stat">
            <strong>{records.length}</strong> calls
          </span>
          <span className="stat ok">
            <strong>{verified}</strong> verified
          </span>
          <span className="stat bad">
            <strong>{failed}</strong> failed
          </span>
        </div>
      </div>
      {!keys && (
        <p className="banner banner-info" role="status">
          {statusError ?? 'Loading the mesh’s published keys…'}
        </p>
      )}
      {records.length === 0 ? (
        <p className="card empty">No calls yet in this session. Run a demo and its receipts appear here.</p>
      ) : (
        <ol className="audit-list" aria-label="Receipts of this session, newest first">
          {[...records].reverse().map((record) => (
            <li key={record.id} className="card audit-item" data-record={record.id}>
              <div className="audit-head">
                <div>
                  <p className="audit-title">
                    {record.demoTitle} / {record.stepTitle}
                    {record.attempt === 2 ? <span className="muted"> (retry)</span> : null}
                  </p>
                  <p className="muted audit-time">{formatTime(record.finishedAt)}</p>
                </div>
                <div className="chips">
                  <span className="sr-only">Served by</span>
                  {(record.cascadia?.node_ids ?? []).map((id) => (
                    <code key={id} className="chip">
                      {id}
                    </code>
                  ))}
                </div>
                <button
                  type="button"
                  className="button small"
                  disabled={!record.cascadia}
                  onClick={() => {
                    const json = tamperedCopy(record);
                    setPasted(json);
                    void check(json);
                    document.getElementById(boxId)?.scrollIntoView({ behavior: 'smooth', block: 'center' });
                  }}
                >
                  Tamper with a copy
                </button>
              </div>
              <ReceiptDetails record={record} />
            </li>
          ))}
        </ol>
      )}
      {records.length > 0 && (
        <p>
          <button type="button" className="link-button" onClick={clearRecords}>
            Clear this session's records
          </button>
        </p>
      )}
      <section className="card verify-box" aria-labelledby="verify-heading">
        <h2 id="verify-heading">Verify a pasted receipt</h2>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void check(pasted);
          }}
        >
          <label htmlFor={boxId}>Receipt or cascadia block (JSON)</label>
          <textarea
            id={boxId}
            className="mono"
            rows={8}
            value={pasted}
            onChange={(event) => {
              setPasted(event.target.value);
              setResult(null);
            }}
            placeholder='{"v": 1, "kind": "mesh", ...}'
          />
          <div className="actions">
            <button type="submit" className="button primary" disabled={checking || pasted.trim() === ''}>
              Verify
            </button>
            <output htmlFor={boxId} aria-live="polite" data-testid="pasted-result">
              {result && <VerificationBadge verification={result} />}
            </output>
          </div>
          {result && result.status !== 'verified' && (
            <p className="help">
              {result.status === 'failed' ? `${REASON_LABELS[result.reason] ?? result.reason}: ` : ''}
              {result.detail}
            </p>
          )}
        </form>
      </section>
    </>
  );
}
