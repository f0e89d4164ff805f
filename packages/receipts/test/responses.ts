/** Saved mesh responses as a client would store them: a chat.completion and an SSE stream. */
import type { Fixture } from './fixture.js';
import { OUTPUT_TEXT } from './fixture.js';

export function chatCompletion(f: Fixture) {
  return {
    id: f.receipt.request_id,
    object: 'chat.completion',
    created: 1778320801,
    model: 'smollm2-135m-instruct',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: OUTPUT_TEXT },
        finish_reason: 'stop',
        logprobs: null,
      },
    ],
    usage: f.receipt.usage,
    cascadia: { node_ids: [...f.nodeIds], receipt: f.receipt },
  };
}

/** The stream in three content pieces, then the final usage chunk carrying the block, then [DONE]. */
export function sseStream(f: Fixture, text = OUTPUT_TEXT): string {
  const base = {
    id: f.receipt.request_id,
    object: 'chat.completion.chunk',
    created: 1778320801,
    model: 'smollm2-135m-instruct',
  };
  const pieces = [text.slice(0, 9), text.slice(9, 20), text.slice(20)];
  const chunks: unknown[] = [
    { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
    ...pieces.map((content) => ({
      ...base,
      choices: [{ index: 0, delta: { content }, finish_reason: null }],
    })),
    { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
    {
      ...base,
      choices: [],
      usage: f.receipt.usage,
      cascadia: { node_ids: [...f.nodeIds], receipt: f.receipt },
    },
  ];
  return `${chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('')}data: [DONE]\n\n`;
}
