/**
 * Receipt verification in the browser with `@cascadia/receipts`: the signature chain against the
 * keys the mesh publishes, the block's node ids against the signed ones, and the output digest
 * against the text this page actually received.
 */
import {
  computeOutputDigest,
  keyDirectoryFromPublished,
  verifyCascadiaBlock,
  verifyMeshReceipt,
} from '@cascadia/receipts';
import type { PublishedKeys } from './api-types';

export type Verification =
  | { status: 'verified' }
  | { status: 'failed'; reason: string; detail: string }
  | { status: 'unavailable'; detail: string };

export const REASON_LABELS: Record<string, string> = {
  malformed: 'the receipt is malformed',
  unknown_key: 'it is signed by a key the mesh does not publish',
  bad_signature: 'a signature does not match',
  digest_mismatch: 'the signed output digest differs from the text received',
  inconsistent: 'its parts disagree',
};

function directory(keys: PublishedKeys | null) {
  if (!keys)
    return { error: "The mesh's public keys are not available, so the receipt cannot be checked yet." };
  try {
    return { directory: keyDirectoryFromPublished(keys) };
  } catch (err) {
    return { error: `The published keys are invalid: ${(err as Error).message}` };
  }
}

/** Verifies the `cascadia` block of a step against the text the browser streamed. */
export async function verifyStepBlock(
  block: unknown,
  text: string,
  keys: PublishedKeys | null,
): Promise<Verification> {
  if (!block)
    return { status: 'failed', reason: 'missing', detail: 'The response carried no cascadia block.' };
  const dir = directory(keys);
  if (!dir.directory) return { status: 'unavailable', detail: dir.error };
  const result = await verifyCascadiaBlock(block, {
    keys: dir.directory,
    outputDigest: computeOutputDigest(text),
  });
  return result.ok
    ? { status: 'verified' }
    : { status: 'failed', reason: result.reason, detail: result.detail };
}

/** Verifies a pasted receipt, or a pasted cascadia block (`{ node_ids, receipt }`). */
export async function verifyPasted(json: string, keys: PublishedKeys | null): Promise<Verification> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { status: 'failed', reason: 'malformed', detail: 'That is not JSON.' };
  }
  const dir = directory(keys);
  if (!dir.directory) return { status: 'unavailable', detail: dir.error };
  const isBlock = typeof value === 'object' && value !== null && 'receipt' in value;
  const result = isBlock
    ? await verifyCascadiaBlock(value, { keys: dir.directory })
    : await verifyMeshReceipt(value, { keys: dir.directory });
  return result.ok
    ? { status: 'verified' }
    : { status: 'failed', reason: result.reason, detail: result.detail };
}
