import { describe, expect, it } from 'vitest';
import { formatSSE, parseSSE, SSEDecoder, type SSEEvent, tapSSE } from '../src/index.js';

const encoder = new TextEncoder();

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

async function collect(chunks: Uint8Array[]): Promise<SSEEvent[]> {
  const events: SSEEvent[] = [];
  for await (const event of parseSSE(streamOf(chunks))) events.push(event);
  return events;
}

/** Every way of cutting `bytes` into two pieces, plus one piece per byte. */
function splits(bytes: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [[bytes]];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.slice(0, i), bytes.slice(i)]);
  out.push(Array.from(bytes, (b) => Uint8Array.of(b)));
  return out;
}

// CRLF (also between data lines of one event) and bare CR line endings, a comment, a multi-line event, an event name with id, a
// multi-byte UTF-8 character (split inside it by the byte offsets), a field with no space after
// the colon, and an unknown field.
const SAMPLE =
  '\uFEFF: keep-alive comment\r\n' +
  'data: {"id":"a","choices":[{"delta":{"content":"héllo ✓ 🚀"}}]}\r\n\r\n' +
  'event: error\rid: 7\rdata: line one\rdata:line two\r\r' +
  'retry: 1000\nfoo: bar\ndata: {"usage":{"total_tokens":3},"cascadia":{"node_ids":["n1"]}}\n\n' +
  'data: multi\r\ndata: line\r\n\r\n' +
  'data: [DONE]\n\n';

const EXPECTED: SSEEvent[] = [
  { data: '{"id":"a","choices":[{"delta":{"content":"héllo ✓ 🚀"}}]}' },
  { event: 'error', id: '7', data: 'line one\nline two' },
  { id: '7', data: '{"usage":{"total_tokens":3},"cascadia":{"node_ids":["n1"]}}' },
  { id: '7', data: 'multi\nline' },
  { id: '7', data: '[DONE]' },
];

describe('parseSSE', () => {
  it('decodes the sample in one chunk', async () => {
    expect(await collect([encoder.encode(SAMPLE)])).toEqual(EXPECTED);
  });

  it('gives the same events whatever byte offset the stream is split at', async () => {
    const bytes = encoder.encode(SAMPLE);
    for (const chunks of splits(bytes)) {
      expect(await collect(chunks)).toEqual(EXPECTED);
    }
  });

  it('gives the same events for 300 random multi-way splits (seeded)', async () => {
    const bytes = encoder.encode(SAMPLE);
    let seed = 0x2545f491;
    const random = () => {
      // xorshift32: reproducible without a dependency.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x1_0000_0000;
    };
    for (let round = 0; round < 300; round++) {
      const cuts = new Set<number>();
      const count = 1 + Math.floor(random() * 12);
      while (cuts.size < count) cuts.add(1 + Math.floor(random() * (bytes.length - 1)));
      const offsets = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
      const chunks = offsets.slice(1).map((end, i) => bytes.slice(offsets[i], end));
      expect(await collect(chunks)).toEqual(EXPECTED);
    }
  });

  it('treats CR then LF in the next chunk as one line break, not two', async () => {
    const events = await collect([
      encoder.encode('data: a\r'),
      encoder.encode('\ndata: b\r'),
      encoder.encode('\n\r\n'),
    ]);
    expect(events).toEqual([{ data: 'a\nb' }]);
  });

  it('assembles a 1 MiB data line delivered in 1 KiB pieces', async () => {
    const payload = 'x'.repeat(1024 * 1024);
    const bytes = encoder.encode(`data: ${payload}\r\n\r\n`);
    const pieces = Array.from({ length: Math.ceil(bytes.length / 1024) }, (_, i) =>
      bytes.slice(i * 1024, (i + 1) * 1024),
    );
    const events = await collect(pieces);
    expect(events).toHaveLength(1);
    expect(events[0]?.data).toBe(payload);
  });

  it('drops an event that the stream ends before its blank line', async () => {
    expect(await collect([encoder.encode('data: complete\n\ndata: cut off')])).toEqual([
      { data: 'complete' },
    ]);
  });

  it('ignores events with no data and comment-only streams', async () => {
    expect(await collect([encoder.encode(': ping\n\nevent: nothing\n\n:\n\n')])).toEqual([]);
  });

  it('keeps an empty data line as an empty string', async () => {
    expect(await collect([encoder.encode('data\n\ndata:\ndata:\n\n')])).toEqual([
      { data: '' },
      { data: '\n' },
    ]);
  });

  it('also reads an async iterable of bytes (e.g. a Node readable)', async () => {
    const { Readable } = await import('node:stream');
    const bytes = encoder.encode(SAMPLE);
    const events: SSEEvent[] = [];
    const pieces = Array.from(bytes, (b) => Buffer.from([b]));
    for await (const event of parseSSE(Readable.from(pieces))) events.push(event);
    expect(events).toEqual(EXPECTED);
  });

  it('cancels the source stream when the consumer stops early', async () => {
    let cancelled = false;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(encoder.encode('data: x\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const event of parseSSE(source)) {
      expect(event.data).toBe('x');
      break;
    }
    expect(cancelled).toBe(true);
  });
});

describe('formatSSE', () => {
  it('serialises objects as JSON and strings verbatim', () => {
    expect(formatSSE({ a: 1 })).toBe('data: {"a":1}\n\n');
    expect(formatSSE('[DONE]')).toBe('data: [DONE]\n\n');
    expect(formatSSE('x', { event: 'error', id: '3' })).toBe('event: error\nid: 3\ndata: x\n\n');
  });

  it('round-trips multi-line and space-leading data through parseSSE', async () => {
    const payloads = ['one\ntwo\n\nthree', ' leading space', '{"k":"v"}', ''];
    const bytes = encoder.encode(payloads.map((p) => formatSSE(p)).join(''));
    expect((await collect([bytes])).map((e) => e.data)).toEqual(payloads);
  });

  it('rejects line breaks in the event name', () => {
    expect(() => formatSSE('x', { event: 'a\nb' })).toThrow(TypeError);
  });
});

describe('tapSSE', () => {
  it('passes bytes through unchanged while reporting each event', async () => {
    const bytes = encoder.encode(SAMPLE);
    const seen: SSEEvent[] = [];
    const chunks = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) =>
      bytes.slice(i * 7, i * 7 + 7),
    );
    const out = streamOf(chunks).pipeThrough(tapSSE((event) => seen.push(event)));
    const received: number[] = [];
    for await (const chunk of out) received.push(...chunk);
    expect(Uint8Array.from(received)).toEqual(bytes);
    expect(seen).toEqual(EXPECTED);
  });
});

describe('SSEDecoder', () => {
  it('accepts already-decoded text', () => {
    const decoder = new SSEDecoder();
    expect(decoder.push('data: a\n')).toEqual([]);
    expect(decoder.push('\n')).toEqual([{ data: 'a' }]);
    expect(decoder.end()).toEqual([]);
  });
});
