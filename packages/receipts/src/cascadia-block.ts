import { quote, safeDetail } from './display.js';
import type { ReceiptUsage } from './schema.js';
import { type VerifyOptions, type VerifyResult, verifyMeshReceipt } from './verify.js';

/**
 * Verifies the `cascadia` block of a response: the receipt (verifyMeshReceipt) and that the block's
 * unsigned `node_ids` say the same as the signed receipt, since UIs display the block's list.
 */
export async function verifyCascadiaBlock(block: unknown, opts: VerifyOptions): Promise<VerifyResult> {
  if (typeof block !== 'object' || block === null || Array.isArray(block)) {
    return { ok: false, reason: 'malformed', detail: 'cascadia block: expected an object' };
  }
  try {
    const { receipt, node_ids: nodeIds } = block as { receipt?: unknown; node_ids?: unknown };
    const result = await verifyMeshReceipt(receipt, opts);
    if (!result.ok) return result;
    return compareBlockNodeIds(nodeIds, result.receipt.node_ids) ?? result;
  } catch (error) {
    // Only hostile objects get here (e.g. a throwing getter); like verifyMeshReceipt, never throw.
    const message = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      reason: 'malformed',
      detail: safeDetail(`cascadia block could not be read: ${message}`),
    };
  }
}

export function compareBlockNodeIds(
  nodeIds: unknown,
  signed: readonly string[],
): { ok: false; reason: 'malformed' | 'inconsistent'; detail: string } | null {
  if (!Array.isArray(nodeIds) || !nodeIds.every((id) => typeof id === 'string')) {
    return { ok: false, reason: 'malformed', detail: 'cascadia.node_ids: expected an array of strings' };
  }
  if (nodeIds.length !== signed.length || nodeIds.some((id, i) => id !== signed[i])) {
    return {
      ok: false,
      reason: 'inconsistent',
      detail: safeDetail(
        `cascadia.node_ids [${nodeIds.map((id) => quote(id)).join(', ')}] differs from the signed receipt.node_ids [${signed.map((id) => quote(id)).join(', ')}]`,
      ),
    };
  }
  return null;
}

/**
 * The usage a response reports (what a gateway bills) against the signed receipt's usage. Only the
 * three counts are compared; responses may carry more detail next to them.
 */
export function compareResponseUsage(
  usage: unknown,
  signed: ReceiptUsage,
): { ok: false; reason: 'inconsistent'; detail: string } | null {
  const reported = (typeof usage === 'object' && usage !== null ? usage : {}) as Record<string, unknown>;
  const fields = ['prompt_tokens', 'completion_tokens', 'total_tokens'] as const;
  const differing = fields.filter((field) => reported[field] !== signed[field]);
  if (differing.length === 0) return null;
  const describe = (source: Record<string, unknown>) =>
    fields.map((field) => `${field} ${quote(source[field])}`).join(', ');
  return {
    ok: false,
    reason: 'inconsistent',
    detail: safeDetail(
      `response usage (${describe(reported)}) differs from the signed receipt usage (${describe(signed)})`,
    ),
  };
}
