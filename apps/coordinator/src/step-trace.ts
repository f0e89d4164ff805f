/**
 * Optional per-step timestamps, for the benchmark's breakdown of where a token's time goes. With
 * `CASCADIA_STEP_TRACE=<dir>` every mesh process records when a step's frame was sent and received
 * and when its forward started and ended, on the monotonic clock all processes of a machine share,
 * and writes them to `<dir>/trace-<pid>.json` when it exits. Otherwise each call is one branch.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export type StepEvent = 'sent' | 'received' | 'forward_start' | 'forward_end';

/** [event, session (hex), step, milliseconds on the monotonic clock] */
export type StepTraceRecord = [StepEvent, string, number, number];

const dir = process.env.CASCADIA_STEP_TRACE;
export const stepTraceOn = Boolean(dir);
const records: StepTraceRecord[] = [];

export function traceStep(event: StepEvent, session: Uint8Array, step: number): void {
  if (!stepTraceOn) return;
  const id = Buffer.from(session.buffer, session.byteOffset, session.byteLength).toString('hex');
  records.push([event, id, step, Number(process.hrtime.bigint()) / 1e6]);
}

/** The monotonic clock the records use, for callers that mark a window of interest. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

if (dir) {
  process.on('exit', () => {
    writeFileSync(path.join(dir, `trace-${process.pid}.json`), JSON.stringify(records));
  });
}
