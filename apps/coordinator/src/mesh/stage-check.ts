/**
 * The coordinator checks every stage statement before it signs a receipt over them: signed by the
 * key the node joined with, naming the node, request, model, shard and layer range the request was
 * routed through. A node cannot get a false statement (another node's id, a stage it did not run)
 * into a receipt the coordinator vouches for.
 */
import { signingBytes } from '@cascadia/receipts';
import { verifyMessage } from '../auth/ed25519.js';
import type { SignedStage } from './types.js';

export interface ExpectedStage {
  node_id: string;
  public_key: string;
  model_id: string;
  shard_digest: string;
  layer_start: number;
  layer_end: number;
}

/** The first problem found, or null when every stage is what the route says. */
export function findStageProblem(
  requestId: string,
  stages: SignedStage[],
  route: ExpectedStage[],
): string | null {
  if (stages.length !== route.length)
    return `expected ${route.length} stage statements, got ${stages.length}`;
  for (const [i, signed] of stages.entries()) {
    const want = route[i]!;
    const s = signed?.statement;
    if (!s || typeof signed.signature !== 'string') return `stage ${i} is malformed`;
    if (s.node_id !== want.node_id || s.public_key !== want.public_key)
      return `stage ${i} does not name ${want.node_id}`;
    if (s.request_id !== requestId) return `stage ${i} is for another request`;
    if (s.model_id !== want.model_id || s.shard_digest !== want.shard_digest)
      return `stage ${i} names another shard`;
    if (s.layer_start !== want.layer_start || s.layer_end !== want.layer_end)
      return `stage ${i} names other layers`;
    let bytes: Uint8Array;
    try {
      bytes = signingBytes(s);
    } catch {
      return `stage ${i} cannot be canonicalized`;
    }
    if (!verifyMessage(bytes, signed.signature, want.public_key))
      return `stage ${i} is not signed by ${want.node_id}`;
  }
  return null;
}
