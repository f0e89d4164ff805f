import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../lib/api-types';
import { StepCallError, type StepCallResult } from '../lib/chat-stream';
import { findDemo } from '../lib/demos';
import { runDemo, type StepCall, type StepRun } from '../lib/orchestrator';

function result(text: string): StepCallResult {
  return {
    text,
    model: 'm',
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    cascadia: { node_ids: ['node-a', 'node-b'], receipt: {} },
    gatewayRequestId: 'req',
    finishReason: 'stop',
    startedAt: 0,
    firstTokenAt: 1,
    finishedAt: 2,
  };
}

/** A transport that streams `answers[stepId]` (one entry per attempt) word by word. */
function scripted(answers: Record<string, string[]>) {
  const calls: ChatRequest[] = [];
  const call: StepCall = async (request, opts) => {
    calls.push(request);
    const attempt = (request.attempt ?? 1) - 1;
    const text = answers[request.stepId]?.[attempt] ?? `${request.stepId} output`;
    let sofar = '';
    for (const word of text.split(/(?<= )/)) {
      sofar += word;
      opts.onDelta?.(word, sofar);
    }
    return result(text);
  };
  return { calls, call };
}

function collect() {
  const updates: StepRun[] = [];
  return { updates, onUpdate: (run: StepRun) => updates.push(run) };
}

describe('runDemo', () => {
  it("runs the fan-out and merge demo in order, passing only each step's dependencies", async () => {
    const demo = findDemo('meeting-actions')!;
    const { calls, call } = scripted({});
    const { updates, onUpdate } = collect();
    const summary = await runDemo({ demo, input: 'notes', call, onUpdate });
    expect(summary.status).toBe('done');
    expect(calls.map((c) => c.stepId)).toEqual(['summary', 'decisions', 'actions', 'email']);
    expect(calls[1]?.priorOutputs).toEqual({ summary: 'summary output' });
    expect(calls[3]?.priorOutputs).toEqual({ decisions: 'decisions output', actions: 'actions output' });
    // streamed text shows up word by word before the step is done
    const emailTexts = updates
      .filter((u) => u.stepId === 'email' && u.status === 'running')
      .map((u) => u.text);
    expect(emailTexts).toContain('email ');
    expect(updates.at(-1)).toMatchObject({ stepId: 'email', status: 'done', output: 'email output' });
  });

  it('retries a structured step once on bad JSON and passes the normalised JSON downstream', async () => {
    const demo = findDemo('support-triage')!;
    const { calls, call } = scripted({
      extract: ['name: Dana, refund', '{"name":" Dana","request":"refund","urgent":false}'],
    });
    const { updates, onUpdate } = collect();
    const summary = await runDemo({ demo, input: 'msg', call, onUpdate });
    expect(summary.status).toBe('done');
    expect(calls.filter((c) => c.stepId === 'extract').map((c) => c.attempt)).toEqual([1, 2]);
    expect(updates.some((u) => u.stepId === 'extract' && u.status === 'retrying')).toBe(true);
    const extract = updates.filter((u) => u.stepId === 'extract').at(-1)!;
    expect(extract.attempts.map((a) => a.validationError === undefined)).toEqual([false, true]);
    expect(calls.find((c) => c.stepId === 'reply')?.priorOutputs).toEqual({
      extract: '{"name":"Dana","request":"refund","urgent":false}',
    });
  });

  it('fails the step with a readable message when the retry is bad too, and stops the pipeline', async () => {
    const demo = findDemo('support-triage')!;
    const { calls, call } = scripted({ extract: ['nope', 'still nope'] });
    const { updates, onUpdate } = collect();
    const summary = await runDemo({ demo, input: 'msg', call, onUpdate });
    expect(summary).toMatchObject({ status: 'error', failedStep: 'extract' });
    expect(calls).toHaveLength(2);
    expect(updates.filter((u) => u.stepId === 'extract').at(-1)?.error).toEqual({
      code: 'bad_output',
      message: expect.stringMatching(/not valid JSON, even after one retry/),
    });
  });

  it('reports transport errors and stops as stopped when aborted', async () => {
    const demo = findDemo('research-brief')!;
    const failing: StepCall = async (req) => {
      if (req.stepId === 'notes')
        throw new StepCallError('The demo budget is used up.', 'budget_exhausted', 402);
      return result('plan text');
    };
    const { updates, onUpdate } = collect();
    expect(await runDemo({ demo, input: 't', call: failing, onUpdate })).toMatchObject({
      status: 'error',
      failedStep: 'notes',
    });
    const notes = updates.filter((u) => u.stepId === 'notes').at(-1);
    expect(notes?.error?.code).toBe('budget_exhausted');
    // the steps after the failed one are marked as not run, not left waiting
    expect(updates.filter((u) => u.stepId === 'critique').at(-1)?.status).toBe('skipped');

    const controller = new AbortController();
    const aborting: StepCall = async () => {
      controller.abort();
      throw new StepCallError('Stopped.', 'aborted', null);
    };
    const stopped = await runDemo({ demo, input: 't', call: aborting, onUpdate, signal: controller.signal });
    expect(stopped).toMatchObject({ status: 'stopped', failedStep: 'plan' });
  });

  it('reruns one step and its dependents, reusing earlier outputs', async () => {
    const demo = findDemo('meeting-actions')!;
    const { calls, call } = scripted({ decisions: ['new decisions'] });
    const previousOutputs = { summary: 'S', decisions: 'old', actions: 'A', email: 'E' };
    const { onUpdate } = collect();
    const summary = await runDemo({
      demo,
      input: 'n',
      call,
      onUpdate,
      previousOutputs,
      fromStep: 'decisions',
      variation: true,
    });
    expect(calls.map((c) => c.stepId)).toEqual(['decisions', 'email']);
    expect(calls.every((c) => c.variation === true)).toBe(true);
    expect(calls[1]?.priorOutputs).toEqual({ decisions: 'new decisions', actions: 'A' });
    expect(summary.outputs).toMatchObject({ summary: 'S', actions: 'A', decisions: 'new decisions' });
  });
});
