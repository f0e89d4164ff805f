/**
 * Server-sent events, per the WHATWG HTML "event stream" interpretation rules, for relays that need
 * to look inside a stream (usage, the `cascadia` block) without re-serialising it.
 */

export interface SSEEvent {
  /** The `event:` field, absent for the default `message` type. */
  event?: string;
  /** The `data:` lines of the event joined with `\n`. */
  data: string;
  /** The `id:` field, when the server sent one. */
  id?: string;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Incremental SSE decoder: push byte chunks split at arbitrary offsets (inside a UTF-8 sequence,
 * between CR and LF, ...) and collect the complete events.
 */
export class SSEDecoder {
  readonly #text = new TextDecoder('utf-8');
  /** The current line's text so far (no line break yet). */
  #partial: string[] = [];
  /** The previous chunk ended in CR: a leading LF of the next one belongs to the same line break. */
  #skipLeadingLF = false;
  #firstLine = true;
  #data: string[] = [];
  #event: string | undefined;
  #id: string | undefined;

  /** Feeds bytes (or already-decoded text) and returns the events completed by them. */
  push(chunk: Uint8Array | string): SSEEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.#text.decode(chunk, { stream: true });
    return this.#consume(text);
  }

  /** Ends the stream. An event without its terminating blank line is dropped, as the spec says. */
  end(): SSEEvent[] {
    const events = this.#consume(this.#text.decode());
    this.#partial = [];
    this.#data = [];
    this.#event = undefined;
    return events;
  }

  #consume(text: string): SSEEvent[] {
    const events: SSEEvent[] = [];
    let start = 0;
    if (this.#skipLeadingLF && text.length > 0) {
      if (text.charCodeAt(0) === LF) start = 1;
      this.#skipLeadingLF = false;
    }
    // Only the new text is scanned; the unfinished line so far is kept in pieces, so a long line
    // arriving in many small chunks costs linear time, not quadratic.
    for (let i = start; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code !== LF && code !== CR) continue;
      const tail = text.slice(start, i);
      const line = this.#partial.length === 0 ? tail : this.#partial.join('') + tail;
      this.#partial = [];
      this.#line(line, events);
      if (code === CR) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === LF) i++;
        } else {
          this.#skipLeadingLF = true;
        }
      }
      start = i + 1;
    }
    if (start < text.length) this.#partial.push(text.slice(start));
    return events;
  }

  #line(rawLine: string, events: SSEEvent[]): void {
    let line = rawLine;
    if (this.#firstLine) {
      this.#firstLine = false;
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    }
    if (line === '') {
      this.#dispatch(events);
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.#id = value;
        break;
      default:
        // `retry` and unknown fields do not affect the events a relay inspects.
        break;
    }
  }

  #dispatch(events: SSEEvent[]): void {
    if (this.#data.length === 0) {
      this.#event = undefined;
      return;
    }
    const event: SSEEvent = { data: this.#data.join('\n') };
    if (this.#event !== undefined && this.#event !== '') event.event = this.#event;
    if (this.#id !== undefined) event.id = this.#id;
    events.push(event);
    this.#data = [];
    this.#event = undefined;
  }
}

/**
 * Parses an SSE byte stream (a web ReadableStream, or any async iterable of bytes such as a Node
 * readable) into events. Stopping the iteration early cancels the stream.
 */
export async function* parseSSE(
  stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<SSEEvent, void, undefined> {
  const decoder = new SSEDecoder();
  if (!isReadableStream(stream)) {
    for await (const chunk of stream) yield* decoder.push(chunk);
    yield* decoder.end();
    return;
  }
  const reader = stream.getReader();
  let finished = false;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      yield* decoder.push(value);
    }
    finished = true;
    yield* decoder.end();
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

function isReadableStream(value: object): value is ReadableStream<Uint8Array> {
  return typeof (value as { getReader?: unknown }).getReader === 'function';
}

/**
 * A pass-through transform: the bytes flow out exactly as they came in, and every complete event is
 * handed to `onEvent` on the side. Lets a relay read usage from the final chunk while forwarding the
 * upstream's bytes untouched. An exception thrown by `onEvent` errors the stream.
 */
export function tapSSE(onEvent: (event: SSEEvent) => void): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new SSEDecoder();
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      for (const event of decoder.push(chunk)) onEvent(event);
    },
    flush() {
      for (const event of decoder.end()) onEvent(event);
    },
  });
}

/** The terminating event of an OpenAI stream. */
export const SSE_DONE = 'data: [DONE]\n\n';

/**
 * Formats one SSE event. Strings are sent as they are (so pre-serialised JSON keeps its bytes),
 * anything else as JSON. Multi-line data becomes several `data:` lines, which parse back to the
 * original text.
 */
export function formatSSE(data: unknown, options: { event?: string; id?: string } = {}): string {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  let out = '';
  if (options.event !== undefined) out += `event: ${singleLine(options.event, 'event')}\n`;
  if (options.id !== undefined) out += `id: ${singleLine(options.id, 'id')}\n`;
  for (const line of text.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return `${out}\n`;
}

function singleLine(value: string, field: string): string {
  if (/[\r\n]/.test(value)) throw new TypeError(`SSE ${field} must not contain line breaks`);
  return value;
}
