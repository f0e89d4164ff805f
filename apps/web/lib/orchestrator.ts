/**
 * Runs a demo's steps one after another in the browser: each step gets the outputs of its
 * dependencies, streams its tokens, and a structured-output step is validated and retried once.
 * The transport is injected (`call`), so this logic is tested without a network.
 */
import type { ChatRequest } from './api-types';
import type { StepCallResult } from './chat-stream';
import { StepCallError } from './chat-stream';
import type { Demo, DemoStep } from './demos';
import { validateJsonOutput } from './json-output';
import { dependencyOutputs, executionOrder, stepsForRerun } from './pipeline';

export type StepStatus = 'pending' | 'running' | 'retrying' | 'done' | 'error' | 'stopped' | 'skipped';

export interface StepAttempt {
  attempt: 1 | 2;
  result: StepCallResult;
  /** Set when a JSON step's output failed validation. */
  validationError?: string;
}

export interface StepRun {
  stepId: string;
  status: StepStatus;
  /** The streamed text of the current attempt. */
  text: string;
  /** What later steps receive: the text, or the normalised JSON of a structured step. */
  output?: string;
  attempts: StepAttempt[];
  error?: { message: string; code: string };
}

export type StepCall = (
  request: ChatRequest,
  opts: { signal?: AbortSignal; onDelta?: (delta: string, text: string) => void },
) => Promise<StepCallResult>;

export interface RunOptions {
  demo: Demo;
  input: string;
  call: StepCall;
  /** Called with a fresh copy of a step's state whenever it changes. */
  onUpdate: (run: StepRun) => void;
  signal?: AbortSignal;
  /** Outputs already produced (used when rerunning one step and its dependents). */
  previousOutputs?: Readonly<Record<string, string>>;
  /** Rerun this step, everything downstream of it and any step without an output, not the whole pipeline. */
  fromStep?: string;
  variation?: boolean;
}

export interface RunSummary {
  status: 'done' | 'error' | 'stopped';
  outputs: Record<string, string>;
  failedStep?: string;
}

export async function runDemo(opts: RunOptions): Promise<RunSummary> {
  const { demo } = opts;
  const steps = opts.fromStep
    ? stepsForRerun(demo.steps, opts.fromStep, opts.previousOutputs ?? {})
    : executionOrder(demo.steps);
  const outputs: Record<string, string> = { ...(opts.previousOutputs ?? {}) };
  for (const step of steps) delete outputs[step.id];
  for (const step of steps) opts.onUpdate({ stepId: step.id, status: 'pending', text: '', attempts: [] });

  for (const step of steps) {
    const run: StepRun = { stepId: step.id, status: 'running', text: '', attempts: [] };
    const publish = () => opts.onUpdate({ ...run, attempts: [...run.attempts] });
    publish();
    try {
      const output = await runStep(step, run, publish, outputs, opts);
      outputs[step.id] = output;
      run.output = output;
      run.status = 'done';
      publish();
    } catch (err) {
      const stopped = opts.signal?.aborted || (err instanceof StepCallError && err.code === 'aborted');
      run.status = stopped ? 'stopped' : 'error';
      run.error = stopped
        ? { message: 'Stopped before this step finished.', code: 'aborted' }
        : err instanceof StepCallError
          ? { message: err.message, code: err.code }
          : { message: `Unexpected error: ${(err as Error).message}`, code: 'internal' };
      publish();
      for (const later of steps.slice(steps.indexOf(step) + 1)) {
        opts.onUpdate({ stepId: later.id, status: 'skipped', text: '', attempts: [] });
      }
      return { status: stopped ? 'stopped' : 'error', outputs, failedStep: step.id };
    }
  }
  return { status: 'done', outputs };
}

async function runStep(
  step: DemoStep,
  run: StepRun,
  publish: () => void,
  outputs: Record<string, string>,
  opts: RunOptions,
): Promise<string> {
  const deps = dependencyOutputs(step, outputs);
  if (!deps.ok) {
    throw new StepCallError(
      `Run ${deps.missing.join(', ')} first: this step reads its output.`,
      'missing_input',
      null,
    );
  }
  const attempt = async (n: 1 | 2): Promise<StepCallResult> => {
    run.text = '';
    const result = await opts.call(
      {
        demoId: opts.demo.id,
        stepId: step.id,
        input: opts.input,
        priorOutputs: deps.outputs,
        attempt: n,
        variation: opts.variation ?? false,
      },
      {
        signal: opts.signal,
        onDelta: (_delta, text) => {
          run.text = text;
          publish();
        },
      },
    );
    run.text = result.text;
    return result;
  };

  const first = await attempt(1);
  if (step.output?.kind !== 'json') {
    run.attempts.push({ attempt: 1, result: first });
    return first.text.trim();
  }
  const firstCheck = validateJsonOutput(first.text, step.output.schema);
  if (firstCheck.ok) {
    run.attempts.push({ attempt: 1, result: first });
    return firstCheck.json;
  }
  run.attempts.push({ attempt: 1, result: first, validationError: firstCheck.error });
  run.status = 'retrying';
  publish();
  const second = await attempt(2);
  const secondCheck = validateJsonOutput(second.text, step.output.schema);
  if (secondCheck.ok) {
    run.attempts.push({ attempt: 2, result: second });
    return secondCheck.json;
  }
  run.attempts.push({ attempt: 2, result: second, validationError: secondCheck.error });
  throw new StepCallError(
    `The model's answer was not valid JSON, even after one retry: ${secondCheck.error}.`,
    'bad_output',
    null,
  );
}
