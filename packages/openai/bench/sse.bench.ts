// Parser throughput on a realistic stream: 2,000 chat chunks and a final usage chunk, fed in 1 KiB
// pieces (so events straddle chunk boundaries, as on the wire).

import { compare } from '@cascadia/test-support';
import { expect, it } from 'vitest';
import { formatSSE, parseSSE, SSE_DONE, tapSSE } from '../src/index.js';

const encoder = new TextEncoder();
const chunk = (i: number) => ({
  id: 'chatcmpl-bench',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model: 'smollm2-135m-instruct',
  choices: [{ index: 0, delta: { content: `token${i} ` }, finish_reason: null }],
});
const text =
  Array.from({ length: 2000 }, (_, i) => formatSSE(chunk(i))).join('') +
  formatSSE({
    ...chunk(2000),
    choices: [],
    usage: { prompt_tokens: 10, completion_tokens: 2000, total_tokens: 2010 },
  }) +
  SSE_DONE;
const bytes = encoder.encode(text);
const pieces = Array.from({ length: Math.ceil(bytes.length / 1024) }, (_, i) =>
  bytes.slice(i * 1024, (i + 1) * 1024),
);
const EVENTS = 2002;

function source(): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream({
    pull(controller) {
      const piece = pieces[index++];
      if (piece) controller.enqueue(piece);
      else controller.close();
    },
  });
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stream.getReader();
  while (!(await reader.read()).done) {
    // drain
  }
}

it(`SSE over ${(bytes.length / 1024).toFixed(0)} KiB, ${EVENTS} events in 1 KiB pieces`, async () => {
  console.log(
    `\nSSE stream of ${(bytes.length / 1024).toFixed(0)} KiB, ${EVENTS} events, ${pieces.length} pieces (best of 5 rounds)`,
  );
  const best = await compare({
    'raw stream drain (baseline)': () => drain(source()),
    parseSSE: async () => {
      let count = 0;
      for await (const _ of parseSSE(source())) count++;
      expect(count).toBe(EVENTS);
    },
    'tapSSE (bytes through, events on the side)': async () => {
      let count = 0;
      await drain(source().pipeThrough(tapSSE(() => count++)));
      expect(count).toBe(EVENTS);
    },
  });
  const baseline = best['raw stream drain (baseline)']!;
  const mib = bytes.length / 1024 / 1024;
  for (const label of ['parseSSE', 'tapSSE (bytes through, events on the side)']) {
    const ms = best[label]!;
    console.log(
      `${label}: ${(mib / (ms / 1000)).toFixed(1)} MiB/s, ${(((ms - baseline) * 1000) / EVENTS).toFixed(2)} µs per event over the baseline`,
    );
  }
});
