/**
 * An incremental parser for `text/event-stream` (the subset OpenAI-compatible servers use:
 * `data:` lines, optional `event:`, comments, events ended by a blank line), fed with chunks as they
 * arrive. Shared by the server relay and the browser.
 */
export interface SseEvent {
  event?: string;
  data: string;
}

export class SseParser {
  private buffer = '';
  private readonly decoder = new TextDecoder();

  /** Feeds bytes or text; returns the events completed by this chunk. */
  push(chunk: Uint8Array | string): SseEvent[] {
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const events: SseEvent[] = [];
    for (;;) {
      const match = /\r\n\r\n|\n\n|\r\r/.exec(this.buffer);
      if (!match) break;
      const block = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = parseBlock(block);
      if (event) events.push(event);
    }
    return events;
  }

  /** Characters received since the last complete event (0 means the stream is on an event boundary). */
  pendingLength(): number {
    return this.buffer.length;
  }

  /** The event left in the buffer when the stream ends without a final blank line. */
  flush(): SseEvent[] {
    const rest = this.buffer + this.decoder.decode();
    this.buffer = '';
    const event = rest.trim() ? parseBlock(rest) : undefined;
    return event ? [event] : [];
  }
}

function parseBlock(block: string): SseEvent | undefined {
  const data: string[] = [];
  let event: string | undefined;
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
  }
  if (data.length === 0) return undefined;
  return event === undefined ? { data: data.join('\n') } : { event, data: data.join('\n') };
}

export function formatSseEvent(event: SseEvent): string {
  const head = event.event ? `event: ${event.event}\n` : '';
  const lines = event.data
    .split('\n')
    .map((line) => `data: ${line}`)
    .join('\n');
  return `${head}${lines}\n\n`;
}
