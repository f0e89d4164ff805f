/**
 * Everything that can be checked about a saved response, in one call (what the CLI's `verify`
 * does, usable in a browser too): the receipt, the block's node ids, the response's usage, and the
 * generated text it holds against the signed output digest.
 */
import { compareBlockNodeIds, compareResponseUsage } from './cascadia-block.js';
import { computeOutputDigest } from './digest.js';
import { ReceiptFormatError } from './errors.js';
import { parseSavedResponse, type SavedResponse } from './saved-response.js';
import { type VerifyOptions, type VerifyResult, verifyMeshReceipt } from './verify.js';

export interface SavedResponseVerifyOptions extends VerifyOptions {
  /**
   * Compare output_digest with the text the response holds (default true). Ignored when
   * `outputDigest` is given, which is then the expectation.
   */
  checkResponseText?: boolean;
}

export interface SavedResponseVerification {
  result: VerifyResult;
  /** What was found in the text; null when no receipt could be found. */
  saved: SavedResponse | null;
  /** Which optional checks ran, in words (for display). */
  checks: string[];
}

/** Never throws: a text without a receipt is a `malformed` result. */
export async function verifySavedResponse(
  text: string,
  opts: SavedResponseVerifyOptions,
): Promise<SavedResponseVerification> {
  let saved: SavedResponse;
  try {
    saved = parseSavedResponse(text);
  } catch (error) {
    const detail =
      error instanceof ReceiptFormatError ? error.message : 'the saved response could not be read';
    return { result: { ok: false, reason: 'malformed', detail }, saved: null, checks: [] };
  }

  const { checkResponseText = true, ...verifyOptions } = opts;
  const checks: string[] = [];
  if (verifyOptions.outputDigest !== undefined) {
    checks.push('output_digest checked against the given text');
  } else if (saved.outputText !== undefined && checkResponseText) {
    verifyOptions.outputDigest = computeOutputDigest(saved.outputText);
    checks.push('output_digest checked against the response text');
  } else {
    checks.push('output_digest not checked');
  }
  checks.push(
    verifyOptions.requestDigest !== undefined ? 'request_digest checked' : 'request_digest not checked',
  );
  if (verifyOptions.requireLinkedStages) {
    checks.push('stages linked: each input digest is the previous output digest');
  }

  let result = await verifyMeshReceipt(saved.receipt, verifyOptions);
  if (result.ok && saved.nodeIds !== undefined) {
    result = compareBlockNodeIds(saved.nodeIds, result.receipt.node_ids) ?? result;
  }
  if (result.ok && saved.usage !== undefined) {
    result = compareResponseUsage(saved.usage, result.receipt.usage) ?? result;
    if (result.ok) checks.push('response usage matches the signed usage');
  }
  return { result, saved, checks };
}
