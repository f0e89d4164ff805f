import { describe, expect, it } from 'vitest';
import { DEMOS, type DemoStep } from '../lib/demos';
import {
  dependencyOutputs,
  executionOrder,
  PipelineError,
  stepAndDependents,
  stepsForRerun,
} from '../lib/pipeline';

const step = (id: string, dependsOn: string[] = []): DemoStep => ({
  id,
  title: id,
  dependsOn,
  system: 's',
  prompt: () => id,
  maxTokens: 8,
});

describe('executionOrder', () => {
  it('orders a fan-out and merge so every step follows its dependencies', () => {
    const order = executionOrder([
      step('email', ['decisions', 'actions']),
      step('actions', ['summary']),
      step('summary'),
      step('decisions', ['summary']),
    ]);
    expect(order.map((s) => s.id)).toEqual(['summary', 'actions', 'decisions', 'email']);
  });

  it('keeps definition order among independent steps', () => {
    expect(executionOrder([step('a'), step('b'), step('c', ['a', 'b'])]).map((s) => s.id)).toEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it('rejects unknown dependencies, cycles and duplicate ids', () => {
    expect(() => executionOrder([step('a', ['zzz'])])).toThrow(/unknown step "zzz"/);
    expect(() => executionOrder([step('a', ['b']), step('b', ['a'])])).toThrow(PipelineError);
    expect(() => executionOrder([step('a'), step('a')])).toThrow(/duplicate/);
  });

  it('accepts every shipped demo, each with 3-5 steps where later steps read earlier ones', () => {
    expect(DEMOS).toHaveLength(4);
    expect(new Set(DEMOS.map((d) => d.shape)).size).toBe(4);
    for (const demo of DEMOS) {
      expect(executionOrder(demo.steps)).toHaveLength(demo.steps.length);
      expect(demo.steps.length).toBeGreaterThanOrEqual(3);
      expect(demo.steps.length).toBeLessThanOrEqual(5);
      expect(demo.steps.some((s) => s.dependsOn.length > 0)).toBe(true);
    }
    expect(DEMOS.filter((d) => d.steps.some((s) => s.output?.kind === 'json'))).toHaveLength(1);
  });
});

describe('stepAndDependents', () => {
  it('returns the rerun step and everything downstream of it, not its siblings', () => {
    const steps = [
      step('summary'),
      step('decisions', ['summary']),
      step('actions', ['summary']),
      step('email', ['decisions', 'actions']),
    ];
    expect(stepAndDependents(steps, 'decisions').map((s) => s.id)).toEqual(['decisions', 'email']);
    expect(stepAndDependents(steps, 'summary').map((s) => s.id)).toEqual([
      'summary',
      'decisions',
      'actions',
      'email',
    ]);
    expect(stepAndDependents(steps, 'email').map((s) => s.id)).toEqual(['email']);
  });
});

describe('stepsForRerun', () => {
  it('adds steps left without output (after a stop) so the rerun completes the pipeline', () => {
    const steps = [step('explain'), step('risks'), step('review', ['explain', 'risks'])];
    expect(
      stepsForRerun(steps, 'explain', { explain: 'e', risks: 'r', review: 'x' }).map((s) => s.id),
    ).toEqual(['explain', 'review']);
    expect(stepsForRerun(steps, 'explain', {}).map((s) => s.id)).toEqual(['explain', 'risks', 'review']);
  });
});

describe('dependencyOutputs', () => {
  it('picks only the declared dependencies and reports missing ones', () => {
    const s = step('c', ['a', 'b']);
    expect(dependencyOutputs(s, { a: '1', b: '2', x: '3' })).toEqual({
      ok: true,
      outputs: { a: '1', b: '2' },
    });
    expect(dependencyOutputs(s, { a: '1' })).toEqual({ ok: false, missing: ['b'] });
  });
});
