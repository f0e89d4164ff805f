'use client';
/**
 * One demo: the visitor edits the input, starts the pipeline, watches each step stream, can stop it
 * and rerun any step (with its dependents). Every call's receipt is recorded and verified in the
 * session, which the audit and usage views read.
 */
import Link from 'next/link';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { callStep } from '../lib/chat-stream';
import { findDemo, INPUT_LIMITS, SHAPE_LABELS } from '../lib/demos';
import { formatSeconds, formatUsd } from '../lib/format';
import { runDemo, type StepCall, type StepRun } from '../lib/orchestrator';
import { executionOrder } from '../lib/pipeline';
import { PipelineDiagram } from './pipeline-diagram';
import { ReceiptDetails } from './receipt-view';
import { type StepRecord, usageRowFor, useSession } from './session-provider';

const STATUS_LABELS: Record<StepRun['status'] | 'idle', string> = {
  idle: 'Not run',
  pending: 'Waiting',
  running: 'Streaming…',
  retrying: 'Retrying (bad JSON)…',
  done: 'Done',
  error: 'Failed',
  stopped: 'Stopped',
  skipped: 'Not run: an earlier step did not finish',
};

function placeholderFor(status: StepRun['status'] | undefined): string {
  if (status === undefined) return 'Output appears here as it streams.';
  if (status === 'skipped' || status === 'pending') return 'Not run yet.';
  return status === 'running' || status === 'retrying' ? 'Waiting for the first token…' : 'No output.';
}

export function DemoRunner({ demoId }: { demoId: string }) {
  const demo = findDemo(demoId);
  if (!demo) throw new Error(`unknown demo ${demoId}`);
  const steps = useMemo(() => executionOrder(demo.steps), [demo]);
  const session = useSession();
  const { addRecord, refreshUsage } = session;
  const [input, setInput] = useState(demo.defaultInput);
  const [runs, setRuns] = useState<Record<string, StepRun>>({});
  const [recordIds, setRecordIds] = useState<Record<string, string[]>>({});
  const [running, setRunning] = useState(false);
  const [banner, setBanner] = useState<{ kind: 'ok' | 'error' | 'info'; text: string } | null>(null);
  const controller = useRef<AbortController | null>(null);
  // False in the server-rendered page: until React has hydrated it, a click on "Run pipeline" would
  // submit the form natively (a reload that runs nothing), so the button waits for this.
  const [hydrated, setHydrated] = useState(false);

  useEffect(() => {
    setHydrated(true);
    return () => controller.current?.abort();
  }, []);

  const call = useCallback<StepCall>(
    async (request, opts) => {
      const result = await callStep(request, opts);
      const step = demo.steps.find((s) => s.id === request.stepId);
      const id = addRecord({
        demoId: demo.id,
        demoTitle: demo.title,
        stepId: request.stepId,
        stepTitle: step?.title ?? request.stepId,
        attempt: request.attempt ?? 1,
        text: result.text,
        model: result.model,
        usage: result.usage,
        cascadia: result.cascadia,
        gatewayRequestId: result.gatewayRequestId,
        startedAt: result.startedAt,
        firstTokenAt: result.firstTokenAt,
        finishedAt: result.finishedAt,
      });
      setRecordIds((all) => ({
        ...all,
        [request.stepId]: request.attempt === 2 ? [...(all[request.stepId] ?? []), id] : [id],
      }));
      void refreshUsage();
      return result;
    },
    [addRecord, refreshUsage, demo],
  );

  const start = async (fromStep?: string) => {
    controller.current?.abort();
    const abort = new AbortController();
    controller.current = abort;
    setRunning(true);
    setBanner(null);
    const previousOutputs: Record<string, string> = {};
    for (const [id, run] of Object.entries(runs))
      if (run.output !== undefined) previousOutputs[id] = run.output;
    const summary = await runDemo({
      demo,
      input,
      call,
      signal: abort.signal,
      fromStep,
      previousOutputs,
      variation: fromStep !== undefined,
      onUpdate: (run) => setRuns((all) => ({ ...all, [run.stepId]: run })),
    });
    setRunning(false);
    if (summary.status === 'done')
      setBanner({
        kind: 'ok',
        text: 'Pipeline complete. Every step below carries a signed receipt, checked in this browser.',
      });
    else if (summary.status === 'stopped')
      setBanner({ kind: 'info', text: 'Stopped. Rerun any step to continue from there.' });
    else {
      const failed = demo.steps.find((s) => s.id === summary.failedStep);
      setBanner({
        kind: 'error',
        text: `The pipeline stopped at “${failed?.title ?? summary.failedStep}”. See the step for details.`,
      });
    }
  };

  const stop = () => controller.current?.abort();
  const doneCount = steps.filter((s) => runs[s.id]?.status === 'done').length;

  return (
    <div className="demo">
      <p className="breadcrumb">
        <Link href="/">Demos</Link> / {demo.title}
      </p>
      <div className="demo-head">
        <div>
          <h1>{demo.title}</h1>
          <p className="lead">{demo.summary}</p>
        </div>
        <span className="badge">{SHAPE_LABELS[demo.shape]}</span>
      </div>
      <PipelineDiagram
        steps={steps.map((s) => ({
          id: s.id,
          title: s.title,
          dependsOn: [...s.dependsOn],
          status: runs[s.id]?.status,
        }))}
      />
      <form
        className="card run-form"
        onSubmit={(event) => {
          event.preventDefault();
          if (!running) void start();
        }}
      >
        <label htmlFor="demo-input">{demo.inputLabel}</label>
        <textarea
          id="demo-input"
          name="input"
          value={input}
          maxLength={INPUT_LIMITS.inputChars}
          rows={demo.id === 'code-review' ? 6 : 3}
          onChange={(event) => setInput(event.target.value)}
          disabled={running}
          aria-describedby="input-help"
          className={demo.id === 'code-review' ? 'mono' : undefined}
        />
        <p id="input-help" className="help">
          Up to {INPUT_LIMITS.inputChars} characters. The prompts around it are fixed by the demo.
        </p>
        <div className="actions">
          <button
            type="submit"
            className="button primary"
            disabled={!hydrated || running || input.trim() === ''}
          >
            {doneCount > 0 ? 'Run again' : 'Run pipeline'}
          </button>
          <button type="button" className="button" onClick={stop} disabled={!running}>
            Stop
          </button>
          <span className="progress" aria-live="polite">
            {running
              ? `Running… ${doneCount} of ${steps.length} steps done`
              : doneCount > 0
                ? `${doneCount} of ${steps.length} steps done`
                : ''}
          </span>
        </div>
      </form>
      {banner && (
        <p className={`banner banner-${banner.kind}`} role={banner.kind === 'error' ? 'alert' : 'status'}>
          {banner.text}
        </p>
      )}
      <ol className="steps">
        {steps.map((step, index) => {
          const run = runs[step.id];
          const records = (recordIds[step.id] ?? [])
            .map((id) => session.records.find((r) => r.id === id))
            .filter((r): r is StepRecord => r !== undefined);
          const depsReady = step.dependsOn.every((dep) => runs[dep]?.output !== undefined);
          return (
            <li
              key={step.id}
              className={`card step status-${run?.status ?? 'idle'}`}
              data-step={step.id}
              data-status={run?.status ?? 'idle'}
            >
              <div className="step-head">
                <h2>
                  <span className="step-num" aria-hidden="true">
                    {index + 1}
                  </span>
                  {step.title}
                </h2>
                <span className="step-status">{STATUS_LABELS[run?.status ?? 'idle']}</span>
              </div>
              <p className="muted step-reads">
                {step.dependsOn.length
                  ? `Reads: ${step.dependsOn.map((d) => demo.steps.find((s) => s.id === d)?.title ?? d).join(', ')}`
                  : `Reads: ${demo.inputLabel.toLowerCase()}`}
                {step.output?.kind === 'json' ? ' · Output: JSON, validated' : ''}
                {` · max ${step.maxTokens} tokens`}
              </p>
              <div
                className={`step-output${run?.status === 'running' || run?.status === 'retrying' ? ' streaming' : ''}`}
                aria-live={run?.status === 'running' ? 'polite' : undefined}
                data-testid="step-output"
              >
                {run?.text ? (
                  <span data-testid="step-text">{run.text}</span>
                ) : (
                  <span className="placeholder">{placeholderFor(run?.status)}</span>
                )}
              </div>
              {run?.attempts.some((a) => a.validationError) && (
                <p className="note">
                  {run.attempts.map((a) =>
                    a.validationError ? (
                      <span key={a.attempt} className="block">
                        Attempt {a.attempt}: {a.validationError}.
                      </span>
                    ) : (
                      <span key={a.attempt} className="block">
                        Attempt {a.attempt}: valid JSON{run.output ? ` ${run.output}` : ''}.
                      </span>
                    ),
                  )}
                </p>
              )}
              {run?.error && (
                <p className="banner banner-error" role="alert">
                  {run.error.message}
                </p>
              )}
              {records.map((record) => (
                <StepMeta key={record.id} record={record} showAttempt={records.length > 1} />
              ))}
              <div className="step-actions">
                <button
                  type="button"
                  className="button small"
                  onClick={() => void start(step.id)}
                  disabled={running || !depsReady || !run}
                  title={depsReady ? undefined : 'Run the steps it reads first'}
                >
                  Rerun step
                </button>
              </div>
            </li>
          );
        })}
      </ol>
    </div>
  );
}

function StepMeta({ record, showAttempt }: { record: StepRecord; showAttempt: boolean }) {
  const { usage } = useSession();
  const row = usageRowFor(record, usage);
  const elapsed = record.finishedAt - record.startedAt;
  const tokens = record.usage?.completion_tokens ?? 0;
  const decodeMs = record.firstTokenAt ? record.finishedAt - record.firstTokenAt : elapsed;
  return (
    <div className="meta" data-testid="step-meta">
      {showAttempt && <p className="muted">Attempt {record.attempt}</p>}
      <dl className="meta-grid">
        <div>
          <dt>Model</dt>
          <dd>{record.model ?? '—'}</dd>
        </div>
        <div>
          <dt>Time</dt>
          <dd>
            {formatSeconds(elapsed)}
            {record.firstTokenAt ? (
              <span className="muted">
                {' '}
                · first token {formatSeconds(record.firstTokenAt - record.startedAt)}
              </span>
            ) : null}
          </dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd>
            {record.usage ? `${record.usage.prompt_tokens} in · ${record.usage.completion_tokens} out` : '—'}
            {tokens > 1 && decodeMs > 0 ? (
              <span className="muted"> · {(tokens / (decodeMs / 1000)).toFixed(1)} tok/s</span>
            ) : null}
          </dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd data-testid="step-cost">{row ? formatUsd(row.cost_usd) : 'pending'}</dd>
        </div>
        <div className="wide">
          <dt>Served by</dt>
          <dd className="chips" data-testid="node-ids">
            {(record.cascadia?.node_ids ?? []).map((id) => (
              <code key={id} className="chip">
                {id}
              </code>
            ))}
            {!record.cascadia && <span className="muted">no node ids returned</span>}
          </dd>
        </div>
      </dl>
      <ReceiptDetails record={record} />
    </div>
  );
}
