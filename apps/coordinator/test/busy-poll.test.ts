/**
 * `--busy-poll`: nodes keep their event loop polling while they hold open sessions, serve the same
 * tokens as sleeping nodes, and stop polling once the last session is gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineSession } from '../src/mesh/pipeline-session.js';
import { arithRunner } from './helpers/arith-runner.js';
import { startTestFleet, type TestFleet } from './helpers/fleet.js';

const LAYERS = 4;
const GREEDY = { temperature: 0, top_p: 1, top_k: 0, frequency_penalty: 0, presence_penalty: 0, seed: 1 };
let polling: TestFleet;
let sleeping: TestFleet;

beforeAll(async () => {
  polling = await startTestFleet();
  await polling.addNode(arithRunner(0, 2, LAYERS), 'first', { busyPoll: true });
  await polling.addNode(arithRunner(2, LAYERS, LAYERS), 'second', { busyPoll: true });
  sleeping = await startTestFleet();
  await sleeping.addNode(arithRunner(0, 2, LAYERS), 'first');
  await sleeping.addNode(arithRunner(2, LAYERS, LAYERS), 'second');
});

afterAll(async () => {
  await polling?.close();
  await sleeping?.close();
});

function session(fleet: TestFleet, requestId: string) {
  const mesh = fleet.coordinator.mesh;
  return new PipelineSession(
    mesh.fleet
      .requireRoute('arith')
      .map((n) => ({ link: n.link, layerStart: n.shard.layer_start, layerEnd: n.shard.layer_end })),
    mesh.identity,
    requestId,
  );
}

async function generate(fleet: TestFleet, requestId: string, during?: () => void): Promise<number[]> {
  const s = session(fleet, requestId);
  await s.open({ ...GREEDY, generated: [] });
  const tokens = [await s.forward(Int32Array.from([3, 14, 15, 9, 26]), 0)];
  for (let i = 0; i < 6; i++) tokens.push(await s.forward(Int32Array.of(tokens.at(-1)!), 5 + i));
  during?.();
  await s.close();
  return tokens;
}

describe('busy polling nodes', () => {
  it('poll while a session is open, give the same tokens, and stop polling after it closes', async () => {
    expect(polling.nodes.map((n) => n.server.polling)).toEqual([false, false]);
    let whileOpen: boolean[] = [];
    const polled = await generate(polling, 'req-poll', () => {
      whileOpen = polling.nodes.map((n) => n.server.polling);
    });
    expect(whileOpen).toEqual([true, true]);
    expect(polled).toEqual(await generate(sleeping, 'req-sleep'));
    expect(sleeping.nodes.map((n) => n.server.polling)).toEqual([false, false]);
    // The Close was answered; the next turn of the loop sees no session and stops.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(polling.nodes.map((n) => n.server.polling)).toEqual([false, false]);
  });
});
