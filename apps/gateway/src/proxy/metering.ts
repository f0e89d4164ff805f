// Reading what a call produced from the upstream's response, without changing the response.
import type { SSEEvent } from '@cascadia/openai';
import { approxTokens } from '../tokens.js';
import { receiptDigest } from './receipt-digest.js';

export interface Metered {
  promptTokens: number;
  completionTokens: number;
  /** 'upstream' when the upstream's usage was used, 'counted' when tokens were approximated. */
  source: 'upstream' | 'counted';
  nodeIds: string[] | null;
  receiptDigest: string | null;
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

function readUsage(value: unknown): Usage | null {
  if (typeof value !== 'object' || value === null) return null;
  const { prompt_tokens, completion_tokens } = value as Record<string, unknown>;
  if (typeof prompt_tokens !== 'number' || typeof completion_tokens !== 'number') return null;
  if (prompt_tokens < 0 || completion_tokens < 0) return null;
  return { prompt_tokens, completion_tokens };
}

function readCascadia(value: unknown): { nodeIds: string[] | null; receiptDigest: string | null } {
  if (typeof value !== 'object' || value === null) return { nodeIds: null, receiptDigest: null };
  const block = value as { node_ids?: unknown; receipt?: unknown };
  const nodeIds =
    Array.isArray(block.node_ids) && block.node_ids.every((id) => typeof id === 'string')
      ? (block.node_ids as string[])
      : null;
  // Not canonicalizable (e.g. a lone surrogate): recorded as absent.
  const digest =
    typeof block.receipt === 'object' && block.receipt !== null ? receiptDigest(block.receipt) : null;
  return { nodeIds, receiptDigest: digest };
}

/** Generated text carried by one choice (message or delta; content, reasoning, tool-call arguments). */
function choiceText(choice: unknown): string {
  if (typeof choice !== 'object' || choice === null) return '';
  const c = choice as Record<string, unknown>;
  let text = typeof c.text === 'string' ? c.text : '';
  for (const part of [c.message, c.delta]) {
    if (typeof part !== 'object' || part === null) continue;
    const p = part as Record<string, unknown>;
    for (const field of ['content', 'reasoning_content', 'refusal']) {
      const v = p[field];
      if (typeof v === 'string') text += v;
    }
    if (Array.isArray(p.tool_calls)) {
      for (const call of p.tool_calls) {
        const fn = (call as { function?: { name?: unknown; arguments?: unknown } } | null)?.function;
        if (typeof fn?.name === 'string') text += fn.name;
        if (typeof fn?.arguments === 'string') text += fn.arguments;
      }
    }
  }
  return text;
}

/** Metering of a non-streamed response body (chat.completion or text_completion JSON). */
export function meterJson(bytes: Uint8Array, countedPromptTokens: number): Metered {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    parsed = null;
  }
  const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const usage = readUsage(record.usage);
  const cascadia = readCascadia(record.cascadia);
  if (usage) {
    return {
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      source: 'upstream',
      ...cascadia,
    };
  }
  const text = Array.isArray(record.choices) ? record.choices.map(choiceText).join('') : '';
  return {
    promptTokens: countedPromptTokens,
    completionTokens: approxTokens(text),
    source: 'counted',
    ...cascadia,
  };
}

/** Unparsed events kept back by StreamMeter up to this many characters; past it, they are parsed. */
const DEFERRED_CHARS = 64 * 1024;

/**
 * Watches a relayed SSE stream: time to first token, generated text, and the final usage chunk
 * (with its `cascadia` block). Counting never reports fewer tokens than events that carried text.
 *
 * Parsing every event was a sixth of the gateway's own time on a short stream, and the text counts
 * are needed only when the upstream reports no usage. So events are parsed at once only until the
 * first one with text (time to first token) and when their text contains a `"usage"` or
 * `"cascadia"` key; the others are kept unparsed (up to DEFERRED_CHARS, then parsed as they come)
 * and counted only if the result needs them.
 */
export class StreamMeter {
  private usage: Usage | null = null;
  private cascadia: { nodeIds: string[] | null; receiptDigest: string | null } = {
    nodeIds: null,
    receiptDigest: null,
  };
  private chars = 0;
  private textEvents = 0;
  private deferred: string[] = [];
  private deferredChars = 0;
  firstTokenAt: number | null = null;
  done = false;

  onEvent(event: SSEEvent, now: number): void {
    const data = event.data;
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    if (
      this.firstTokenAt !== null &&
      this.deferredChars + data.length <= DEFERRED_CHARS &&
      !data.includes('"usage"') &&
      !data.includes('"cascadia"')
    ) {
      this.deferred.push(data);
      this.deferredChars += data.length;
      return;
    }
    this.parse(data, now);
  }

  private parse(data: string, now: number): void {
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof chunk !== 'object' || chunk === null) return;
    const record = chunk as Record<string, unknown>;
    if (Array.isArray(record.choices)) {
      let text = '';
      for (const choice of record.choices) text += choiceText(choice);
      if (text.length > 0) {
        if (this.firstTokenAt === null) this.firstTokenAt = now;
        this.chars += text.length;
        this.textEvents++;
      }
    }
    const usage = readUsage(record.usage);
    if (usage) this.usage = usage;
    if (record.cascadia !== undefined) this.cascadia = readCascadia(record.cascadia);
  }

  /** Counts the text of the events kept back (their usage and cascadia keys were looked for already). */
  private countDeferred(): void {
    const deferred = this.deferred;
    this.deferred = [];
    this.deferredChars = 0;
    const { usage, cascadia } = this;
    for (const data of deferred) this.parse(data, 0);
    this.usage = usage;
    this.cascadia = cascadia;
  }

  result(countedPromptTokens: number): Metered {
    if (this.usage && this.usage.completion_tokens > 0) {
      return {
        promptTokens: this.usage.prompt_tokens,
        completionTokens: this.usage.completion_tokens,
        source: 'upstream',
        ...this.cascadia,
      };
    }
    this.countDeferred();
    const counted = Math.max(this.textEvents, Math.ceil(this.chars / 4));
    if (this.usage && counted === 0) {
      return {
        promptTokens: this.usage.prompt_tokens,
        completionTokens: this.usage.completion_tokens,
        source: 'upstream',
        ...this.cascadia,
      };
    }
    return {
      promptTokens: countedPromptTokens,
      completionTokens: counted,
      source: 'counted',
      ...this.cascadia,
    };
  }
}
