import { describe, expect, it } from 'vitest';
import { formatSseEvent, SseParser } from '../lib/sse';

describe('SseParser', () => {
  it('assembles events split across arbitrary chunk boundaries, including inside a UTF-8 character', () => {
    const bytes = new TextEncoder().encode(
      'data: {"t":"héllo"}\n\n: keep-alive\n\nevent: error\ndata: {"x":1}\r\n\r\ndata: [DONE]\n\n',
    );
    const parser = new SseParser();
    const events = [];
    for (let i = 0; i < bytes.length; i += 3) events.push(...parser.push(bytes.subarray(i, i + 3)));
    expect(events).toEqual([
      { data: '{"t":"héllo"}' },
      { event: 'error', data: '{"x":1}' },
      { data: '[DONE]' },
    ]);
    expect(parser.pendingLength()).toBe(0);
  });

  it('joins multi-line data and flushes a final event without a blank line', () => {
    const parser = new SseParser();
    expect(parser.push('data: a\ndata: b\n\ndata: tail')).toEqual([{ data: 'a\nb' }]);
    expect(parser.pendingLength()).toBeGreaterThan(0);
    expect(parser.flush()).toEqual([{ data: 'tail' }]);
  });

  it('round-trips formatted events', () => {
    const parser = new SseParser();
    const text = formatSseEvent({ event: 'error', data: 'x\ny' }) + formatSseEvent({ data: 'z' });
    expect(parser.push(text)).toEqual([{ event: 'error', data: 'x\ny' }, { data: 'z' }]);
  });
});
