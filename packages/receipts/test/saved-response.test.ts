import { describe, expect, it } from 'vitest';
import {
  compareResponseUsage,
  computeOutputDigest,
  computeRequestDigest,
  parseSavedResponse,
  ReceiptFormatError,
  sseDataPayloads,
  verifyCascadiaBlock,
  verifyMeshReceipt,
  verifySavedResponse,
} from '../src/index.js';
import { clone, makeFixture, OUTPUT_TEXT, REQUEST_BODY } from './fixture.js';
import { chatCompletion, sseStream } from './responses.js';

describe('parseSavedResponse', () => {
  it('reads the cascadia block and text of a chat.completion', async () => {
    const f = await makeFixture();
    const saved = parseSavedResponse(JSON.stringify(chatCompletion(f)));
    expect(saved).toEqual({
      kind: 'completion',
      receipt: f.receipt,
      nodeIds: f.nodeIds,
      outputText: OUTPUT_TEXT,
      usage: f.receipt.usage,
    });
  });

  it('reads the final chunk of a saved SSE stream and joins the streamed text', async () => {
    const f = await makeFixture();
    const saved = parseSavedResponse(sseStream(f));
    expect(saved).toEqual({
      kind: 'stream',
      receipt: f.receipt,
      nodeIds: f.nodeIds,
      outputText: OUTPUT_TEXT,
      usage: f.receipt.usage,
    });
    // CRLF line endings (as some tools save streams) read the same.
    expect(parseSavedResponse(sseStream(f).replaceAll('\n', '\r\n'))).toEqual(saved);
  });

  it('reads a bare block and a bare receipt', async () => {
    const f = await makeFixture();
    expect(parseSavedResponse(JSON.stringify({ node_ids: f.nodeIds, receipt: f.receipt }))).toEqual({
      kind: 'block',
      receipt: f.receipt,
      nodeIds: f.nodeIds,
    });
    expect(parseSavedResponse(`\n${JSON.stringify(f.receipt, null, 2)}\n`)).toEqual({
      kind: 'receipt',
      receipt: f.receipt,
    });
  });

  it('leaves the text out when it is ambiguous (several choices)', async () => {
    const f = await makeFixture();
    const completion = chatCompletion(f);
    completion.choices.push({ ...completion.choices[0]!, index: 1 });
    expect(parseSavedResponse(JSON.stringify(completion)).outputText).toBeUndefined();
  });

  it('explains when there is no receipt', () => {
    expect(() => parseSavedResponse('{"id":"chatcmpl-1","choices":[]}')).toThrow(/no receipt found/);
    expect(() => parseSavedResponse('data: {"choices":[]}\n\ndata: [DONE]\n\n')).toThrow(
      /no stream chunk carries/,
    );
    expect(() => parseSavedResponse('hello')).toThrow(ReceiptFormatError);
    expect(() => parseSavedResponse('{"a":')).toThrow(/does not parse/);
    expect(() => parseSavedResponse('data: {oops\n\n')).toThrow(/stream event 1 is not JSON/);
  });

  it('sseDataPayloads joins multi-line data and ignores comments and other fields', () => {
    expect(sseDataPayloads(': comment\nevent: x\ndata: a\ndata:b\n\nid: 1\ndata: c\n')).toEqual([
      'a\nb',
      'c',
    ]);
  });
});

describe('verifyCascadiaBlock', () => {
  it('accepts a genuine block and refuses one whose node_ids differ from the signed ones', async () => {
    const f = await makeFixture();
    expect(
      (await verifyCascadiaBlock(clone({ node_ids: f.nodeIds, receipt: f.receipt }), { keys: f.keys })).ok,
    ).toBe(true);
    const lying = await verifyCascadiaBlock(
      { node_ids: [f.nodeIds[1], f.nodeIds[0]], receipt: f.receipt },
      { keys: f.keys },
    );
    expect(lying).toMatchObject({
      ok: false,
      reason: 'inconsistent',
      detail: expect.stringMatching(/^cascadia\.node_ids \[/),
    });
    expect(await verifyCascadiaBlock({ receipt: f.receipt }, { keys: f.keys })).toMatchObject({
      reason: 'malformed',
    });
    expect(await verifyCascadiaBlock('x', { keys: f.keys })).toMatchObject({ reason: 'malformed' });
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('boom');
        },
      },
    );
    expect(await verifyCascadiaBlock(hostile, { keys: f.keys })).toMatchObject({
      reason: 'malformed',
      detail: 'cascadia block could not be read: boom',
    });
  });
});

describe('compareResponseUsage', () => {
  it('accepts the signed counts (extra detail allowed) and names a differing one', async () => {
    const f = await makeFixture();
    expect(
      compareResponseUsage(
        { ...f.receipt.usage, prompt_tokens_details: { cached_tokens: 0 } },
        f.receipt.usage,
      ),
    ).toBeNull();
    const billedMore = compareResponseUsage(
      { ...f.receipt.usage, completion_tokens: 99, total_tokens: 130 },
      f.receipt.usage,
    );
    expect(billedMore).toMatchObject({ ok: false, reason: 'inconsistent' });
    expect(billedMore?.detail).toBe(
      'response usage (prompt_tokens 31, completion_tokens 99, total_tokens 130) differs from the signed receipt usage (prompt_tokens 31, completion_tokens 11, total_tokens 42)',
    );
    expect(compareResponseUsage(null, f.receipt.usage)?.detail).toMatch(/prompt_tokens undefined/);
  });
});

describe('failure details are safe to print', () => {
  it('escapes control and format characters from untrusted values', async () => {
    const f = await makeFixture();
    const result = await verifyCascadiaBlock(
      { node_ids: ['\u001b[2J\u001b[32mOK', '\u202egnp.exe'], receipt: f.receipt },
      { keys: f.keys },
    );
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.detail.includes('\u001b') || result.detail.includes('\u202e')).toBe(false);
      expect(result.detail).toContain('\\u001b[2J');
    }
    const unknownField = await verifyMeshReceipt(
      { ...f.receipt, '\u001b]0;pwned\u0007': 1 },
      { keys: f.keys },
    );
    expect(!unknownField.ok && unknownField.detail).toMatch(
      /^receipt: unknown field\(s\) "\\u001b\]0;pwned\\u0007"$/,
    );
  });

  it('refuses ids with bidi overrides or zero-width characters', async () => {
    const f = await makeFixture();
    for (const id of ['coord\u202einator', 'coord\u200binator']) {
      const result = await verifyMeshReceipt({ ...f.receipt, coordinator_id: id }, { keys: f.keys });
      expect(result).toMatchObject({
        ok: false,
        reason: 'malformed',
        detail: expect.stringMatching(/format characters/),
      });
    }
  });
});

describe('verifySavedResponse', () => {
  it('runs every check a saved response allows and says which ran', async () => {
    const f = await makeFixture();
    const completion = await verifySavedResponse(JSON.stringify(chatCompletion(f)), { keys: f.keys });
    expect(completion.result.ok).toBe(true);
    expect(completion.saved?.kind).toBe('completion');
    expect(completion.checks).toEqual([
      'output_digest checked against the response text',
      'request_digest not checked',
      'response usage matches the signed usage',
    ]);
    const stream = await verifySavedResponse(sseStream(f), {
      keys: f.keys,
      requestDigest: computeRequestDigest(REQUEST_BODY),
      requireLinkedStages: true,
    });
    expect(stream.result.ok).toBe(true);
    expect(stream.checks).toContain('request_digest checked');
    expect(stream.checks).toContain('stages linked: each input digest is the previous output digest');
  });

  it('reports edited text, edited usage and missing receipts', async () => {
    const f = await makeFixture();
    const edited = await verifySavedResponse(sseStream(f, `${OUTPUT_TEXT}!`), { keys: f.keys });
    expect(edited.result).toMatchObject({ ok: false, reason: 'digest_mismatch' });
    const unchecked = await verifySavedResponse(sseStream(f, `${OUTPUT_TEXT}!`), {
      keys: f.keys,
      checkResponseText: false,
    });
    expect(unchecked.result.ok).toBe(true);
    expect(unchecked.checks).toContain('output_digest not checked');
    const given = await verifySavedResponse(sseStream(f, `${OUTPUT_TEXT}!`), {
      keys: f.keys,
      outputDigest: computeOutputDigest(OUTPUT_TEXT),
    });
    expect(given.result.ok).toBe(true);
    const rebilled = chatCompletion(f);
    rebilled.usage = { ...rebilled.usage, prompt_tokens: 1, total_tokens: 12 };
    expect((await verifySavedResponse(JSON.stringify(rebilled), { keys: f.keys })).result).toMatchObject({
      ok: false,
      reason: 'inconsistent',
    });
    const nothing = await verifySavedResponse('hello', { keys: f.keys });
    expect(nothing).toMatchObject({ saved: null, result: { ok: false, reason: 'malformed' } });
  });
});
