/**
 * Responses saved from a real coordinator (two nodes serving a tiny Llama over real sockets): the
 * format this package verifies is the format the mesh produces. If a change here (schema,
 * canonicalization, encodings) stops these from verifying, it breaks every receipt already issued.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  compareResponseUsage,
  computeOutputDigest,
  computeRequestDigest,
  keyDirectoryFromPublished,
  parseSavedResponse,
  verifyCascadiaBlock,
  verifyMeshReceipt,
} from '../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const read = (name: string) => readFile(join(fixtures, name), 'utf8');

describe('receipts saved from a real coordinator', () => {
  it('a chat.completion verifies with every check, including linked stages', async () => {
    const keys = keyDirectoryFromPublished(JSON.parse(await read('coordinator-keys.json')));
    const request = JSON.parse(await read('coordinator-request.json')) as unknown;
    const saved = parseSavedResponse(await read('coordinator-completion.json'));
    expect(saved.kind).toBe('completion');
    const result = await verifyCascadiaBlock(
      { node_ids: saved.nodeIds, receipt: saved.receipt },
      {
        keys,
        requestDigest: computeRequestDigest(request),
        outputDigest: computeOutputDigest(saved.outputText!),
        requireLinkedStages: true,
      },
    );
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.receipt.stages.map((s) => [s.statement.layer_start, s.statement.layer_end])).toEqual([
        [0, 2],
        [2, 4],
      ]);
      expect(compareResponseUsage(saved.usage, result.receipt.usage)).toBeNull();
    }
  });

  it('a saved stream verifies, and its text is the signed output', async () => {
    const keys = keyDirectoryFromPublished(JSON.parse(await read('coordinator-keys.json')));
    const saved = parseSavedResponse(await read('coordinator-stream.sse'));
    expect(saved.kind).toBe('stream');
    const result = await verifyMeshReceipt(saved.receipt, {
      keys,
      outputDigest: computeOutputDigest(saved.outputText!),
      requireLinkedStages: true,
    });
    expect(result.ok).toBe(true);
  });

  it('changing the saved text or request is detected', async () => {
    const keys = keyDirectoryFromPublished(JSON.parse(await read('coordinator-keys.json')));
    const request = JSON.parse(await read('coordinator-request.json')) as Record<string, unknown>;
    const saved = parseSavedResponse(await read('coordinator-completion.json'));
    const otherText = await verifyMeshReceipt(saved.receipt, {
      keys,
      outputDigest: computeOutputDigest(`${saved.outputText} `),
    });
    expect(otherText).toMatchObject({ ok: false, reason: 'digest_mismatch' });
    const otherRequest = await verifyMeshReceipt(saved.receipt, {
      keys,
      requestDigest: computeRequestDigest({ ...request, max_tokens: 7 }),
    });
    expect(otherRequest).toMatchObject({ ok: false, reason: 'digest_mismatch' });
  });
});
