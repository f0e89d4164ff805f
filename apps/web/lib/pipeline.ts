/**
 * Step dependency resolution for a demo pipeline: the order the browser runs steps in, and which
 * steps become stale when one is rerun.
 */
import type { DemoStep } from './demos';

export class PipelineError extends Error {
  override name = 'PipelineError';
}

/**
 * A topological order of the steps that keeps the definition order among independent steps
 * (so fan-out branches run in the order they are written). Throws on unknown dependencies and cycles.
 */
export function executionOrder(steps: readonly DemoStep[]): DemoStep[] {
  const byId = new Map(steps.map((step) => [step.id, step]));
  if (byId.size !== steps.length) throw new PipelineError('duplicate step ids');
  for (const step of steps) {
    for (const dep of step.dependsOn) {
      if (!byId.has(dep)) throw new PipelineError(`step "${step.id}" depends on unknown step "${dep}"`);
    }
  }
  const done = new Set<string>();
  const order: DemoStep[] = [];
  while (order.length < steps.length) {
    const next = steps.find((step) => !done.has(step.id) && step.dependsOn.every((dep) => done.has(dep)));
    if (!next) {
      const stuck = steps.filter((step) => !done.has(step.id)).map((step) => step.id);
      throw new PipelineError(`dependency cycle among steps: ${stuck.join(', ')}`);
    }
    done.add(next.id);
    order.push(next);
  }
  return order;
}

/** The step and every step that reads its output, directly or transitively, in execution order. */
export function stepAndDependents(steps: readonly DemoStep[], stepId: string): DemoStep[] {
  const affected = new Set([stepId]);
  const order = executionOrder(steps);
  for (const step of order) {
    if (step.dependsOn.some((dep) => affected.has(dep))) affected.add(step.id);
  }
  return order.filter((step) => affected.has(step.id));
}

/** The outputs a step needs, or the ids of the dependencies that have no output yet. */
export function dependencyOutputs(
  step: DemoStep,
  outputs: Readonly<Record<string, string | undefined>>,
): { ok: true; outputs: Record<string, string> } | { ok: false; missing: string[] } {
  const picked: Record<string, string> = {};
  const missing: string[] = [];
  for (const dep of step.dependsOn) {
    const value = outputs[dep];
    if (value === undefined) missing.push(dep);
    else picked[dep] = value;
  }
  return missing.length > 0 ? { ok: false, missing } : { ok: true, outputs: picked };
}

/**
 * What "rerun this step" runs: the step, everything downstream of it, and any step that has no
 * output yet (a stopped or failed run left it empty), so the pipeline ends complete.
 */
export function stepsForRerun(
  steps: readonly DemoStep[],
  stepId: string,
  outputs: Readonly<Record<string, string | undefined>>,
): DemoStep[] {
  const affected = new Set(stepAndDependents(steps, stepId).map((step) => step.id));
  return executionOrder(steps).filter((step) => affected.has(step.id) || outputs[step.id] === undefined);
}
