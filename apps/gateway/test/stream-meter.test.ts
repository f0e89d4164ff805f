// StreamMeter parses a stream's events lazily (only what the result needs); whatever it parses,
// its result must be what parsing every event in order gives.
import { describe, expect, it } from 'vitest';
import { StreamMeter } from '../src/proxy/metering.js';

const chunk = (content: string | null, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    object: 'chat.completion.chunk',
    choices: content === null ? [] : [{ index: 0, delta: { content } }],
    ...extra,
  });
const usage = (completion: number) => ({
  usage: { prompt_tokens: 7, completion_tokens: completion, total_tokens: 7 + completion },
});
const cascadia = {
  cascadia: { node_ids: ['node-a', 'node-b'], receipt: { v: 1, nodes: ['node-a', 'node-b'] } },
};

function meter(events: string[], start = 100): StreamMeter {
  const m = new StreamMeter();
  events.forEach((data, i) => {
    m.onEvent({ data }, start + i);
  });
  return m;
}

describe('StreamMeter', () => {
  it('takes the usage chunk and its cascadia block, and times the first event with text', () => {
    const m = meter([
      chunk(''), // the role chunk: no text yet
      chunk('Hello'),
      chunk(' world'),
      chunk(null, { ...usage(2), ...cascadia }),
      '[DONE]',
    ]);
    expect(m.done).toBe(true);
    expect(m.firstTokenAt).toBe(101);
    const result = m.result(99);
    expect(result).toMatchObject({ promptTokens: 7, completionTokens: 2, source: 'upstream' });
    expect(result.nodeIds).toEqual(['node-a', 'node-b']);
    expect(result.receiptDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('counts every text event when the stream ends without usage (client gone, upstream broke)', () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`);
    const m = meter([chunk(''), ...words.map((w) => chunk(w))]);
    // 40 events with text, 2 or 3 characters each: at least one token per event.
    expect(m.result(12)).toMatchObject({ promptTokens: 12, completionTokens: 40, source: 'counted' });
  });

  it('counts by characters when they give more, past the events it keeps unparsed', () => {
    // About 200 KB of text: more than the meter keeps back, so it parses the rest as it comes.
    const long = 'x'.repeat(1000);
    const m = meter(Array.from({ length: 200 }, () => chunk(long)));
    expect(m.result(0)).toMatchObject({ completionTokens: Math.ceil((200 * 1000) / 4), source: 'counted' });
  });

  it('counts the text when the usage chunk reports no completion tokens for a stream that produced some', () => {
    const m = meter([chunk('a'), chunk('b'), chunk('c'), chunk(null, usage(0)), '[DONE]']);
    expect(m.result(3)).toMatchObject({ completionTokens: 3, source: 'counted' });
  });

  it('keeps the last usage reported, and a "usage" inside generated text is not one', () => {
    const m = meter([
      chunk('first'),
      chunk('the word "usage" in text'),
      chunk(null, usage(5)),
      chunk('more'),
      chunk(null, usage(6)),
      '[DONE]',
    ]);
    expect(m.result(0)).toMatchObject({ completionTokens: 6, source: 'upstream' });
  });
});
