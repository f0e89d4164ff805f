/**
 * Where a decode step's time goes, from the mesh processes' step traces (`CASCADIA_STEP_TRACE`, see
 * src/step-trace.ts): per step, the coordinator's send of the Forward frame, each stage's receipt of
 * its frame, forward start and end and send of its output, and the coordinator's receipt of the
 * token. All processes share the machine's monotonic clock, so hops between processes are measured
 * directly instead of as a difference of two noisy throughputs.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { StepEvent, StepTraceRecord } from '../dist/step-trace.js';

type Events = Partial<Record<StepEvent, number>>;

export interface StepBreakdown {
  steps: number;
  stages: number;
  /** medians, ms */
  total: number;
  compute: number;
  nonCompute: number;
  hop: number;
  dispatch: number;
  output: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** Breakdown of the sampled steps traced in `dir` between `from` and `to` (monotonic ms). */
export async function stepBreakdown(dir: string, from: number, to: number): Promise<StepBreakdown> {
  const byStep = new Map<string, Map<string, Events>>();
  for (const file of await readdir(dir)) {
    if (!file.startsWith('trace-')) continue;
    const records = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as StepTraceRecord[];
    for (const [event, session, step, t] of records) {
      if (t < from || t > to) continue;
      const key = `${session}:${step}`;
      const procs = byStep.get(key) ?? new Map<string, Events>();
      byStep.set(key, procs);
      const events = procs.get(file) ?? {};
      procs.set(file, events);
      events[event] = t;
    }
  }
  const total: number[] = [];
  const compute: number[] = [];
  const nonCompute: number[] = [];
  const hop: number[] = [];
  const dispatch: number[] = [];
  const output: number[] = [];
  let stageCount = 0;
  for (const procs of byStep.values()) {
    const all = [...procs.values()];
    // The coordinator sent the step and received its token; stages ran a forward.
    const coordinator = all.find((e) => e.forward_start === undefined && e.sent !== undefined);
    const stages = all
      .filter((e) => e.forward_start !== undefined)
      .sort((a, b) => a.forward_start! - b.forward_start!);
    if (!coordinator?.received || stages.length === 0) continue;
    if (stages.some((s) => !s.received || !s.forward_end || !s.sent)) continue;
    stageCount = stages.length;
    let previousSent = coordinator.sent!;
    let busy = 0;
    for (const s of stages) {
      hop.push(s.received! - previousSent);
      dispatch.push(s.forward_start! - s.received!);
      busy += s.forward_end! - s.forward_start!;
      output.push(s.sent! - s.forward_end!);
      previousSent = s.sent!;
    }
    hop.push(coordinator.received - previousSent);
    const stepTotal = coordinator.received - coordinator.sent!;
    total.push(stepTotal);
    compute.push(busy);
    nonCompute.push(stepTotal - busy);
  }
  return {
    steps: total.length,
    stages: stageCount,
    total: median(total),
    compute: median(compute),
    nonCompute: median(nonCompute),
    hop: median(hop),
    dispatch: median(dispatch),
    output: median(output),
  };
}
