/**
 * Finds the receipt in what a client saved: a chat.completion (or text completion) JSON with its
 * top-level `cascadia` block, the raw text of a streamed response (SSE; the final chunk carries the
 * block), a bare `cascadia` block, or a bare receipt. Also recovers the generated text when the
 * response contains it, so its digest can be compared with the receipt's `output_digest`.
 */
import { safeDetail } from './display.js';
import { ReceiptFormatError } from './errors.js';

export type SavedResponseKind = 'completion' | 'stream' | 'block' | 'receipt';

export interface SavedResponse {
  kind: SavedResponseKind;
  /** The receipt candidate, not yet validated (pass it to verifyMeshReceipt). */
  receipt: unknown;
  /** `cascadia.node_ids` when the receipt came inside a block. */
  nodeIds?: unknown;
  /** The full generated text, when the saved response holds it unambiguously (one choice). */
  outputText?: string;
  /** The response's own `usage` (completion, or the stream chunk that carries it). */
  usage?: unknown;
}

export function parseSavedResponse(text: string): SavedResponse {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let document: unknown;
    try {
      document = JSON.parse(trimmed);
    } catch (error) {
      throw new ReceiptFormatError(
        safeDetail(`the file looks like JSON but does not parse: ${(error as Error).message}`, 300),
      );
    }
    return fromJsonDocument(document);
  }
  return fromEventStream(text);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fromJsonDocument(document: unknown): SavedResponse {
  if (!isRecord(document)) throw new ReceiptFormatError('the JSON document is not an object');
  if (isRecord(document.cascadia)) {
    const saved: SavedResponse = {
      kind: 'completion',
      receipt: document.cascadia.receipt,
      nodeIds: document.cascadia.node_ids,
    };
    const outputText = completionText(document);
    if (outputText !== undefined) saved.outputText = outputText;
    if (document.usage !== undefined) saved.usage = document.usage;
    return saved;
  }
  if ('receipt' in document && 'node_ids' in document) {
    return { kind: 'block', receipt: document.receipt, nodeIds: document.node_ids };
  }
  if (document.kind === 'mesh' || 'coordinator_public_key' in document)
    return { kind: 'receipt', receipt: document };
  throw new ReceiptFormatError(
    'no receipt found: expected a chat.completion with a "cascadia" block, a cascadia block or a receipt',
  );
}

/** Text of the single choice of a chat.completion (`message.content`) or text completion (`text`). */
function completionText(document: Record<string, unknown>): string | undefined {
  const choices = document.choices;
  if (!Array.isArray(choices) || choices.length !== 1) return undefined;
  const choice: unknown = choices[0];
  if (!isRecord(choice)) return undefined;
  if (isRecord(choice.message) && typeof choice.message.content === 'string') return choice.message.content;
  if (typeof choice.text === 'string') return choice.text;
  return undefined;
}

/** Splits Server-Sent Events into the data payloads of their events (per the HTML SSE rules). */
export function sseDataPayloads(text: string): string[] {
  const payloads: string[] = [];
  let data: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length > 0) payloads.push(data.join('\n'));
      data = [];
    } else if (line.startsWith('data:')) {
      data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
    }
  }
  if (data.length > 0) payloads.push(data.join('\n'));
  return payloads;
}

function fromEventStream(text: string): SavedResponse {
  const payloads = sseDataPayloads(text);
  if (payloads.length === 0) {
    throw new ReceiptFormatError('no receipt found: the file is neither JSON nor a server-sent event stream');
  }
  let block: Record<string, unknown> | undefined;
  let usage: unknown;
  let outputText = '';
  let textIsComplete = true;
  for (const [index, payload] of payloads.entries()) {
    if (payload.trim() === '[DONE]') continue;
    let chunk: unknown;
    try {
      chunk = JSON.parse(payload);
    } catch {
      throw new ReceiptFormatError(`stream event ${index + 1} is not JSON`);
    }
    if (!isRecord(chunk)) continue;
    if (isRecord(chunk.cascadia)) block = chunk.cascadia;
    if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage;
    const delta = chunkText(chunk);
    if (delta === null) textIsComplete = false;
    else outputText += delta;
  }
  if (!block) throw new ReceiptFormatError('no receipt found: no stream chunk carries a "cascadia" block');
  const saved: SavedResponse = { kind: 'stream', receipt: block.receipt, nodeIds: block.node_ids };
  if (textIsComplete) saved.outputText = outputText;
  if (usage !== undefined) saved.usage = usage;
  return saved;
}

/** The text a chunk adds to choice 0, or null when the stream has several choices (text ambiguous). */
function chunkText(chunk: Record<string, unknown>): string | null {
  const choices = chunk.choices;
  if (!Array.isArray(choices)) return '';
  let text = '';
  for (const choice of choices as unknown[]) {
    if (!isRecord(choice)) continue;
    if (choice.index !== undefined && choice.index !== 0) return null;
    if (isRecord(choice.delta) && typeof choice.delta.content === 'string') text += choice.delta.content;
    else if (typeof choice.text === 'string') text += choice.text;
  }
  return text;
}
