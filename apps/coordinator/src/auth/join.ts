/**
 * Join proof: a node proves it knows the fleet's join token without sending it, by an HMAC over a
 * coordinator-issued nonce bound to its identity, and proves it holds its identity key by signing
 * the same message.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function joinMessage(nonce: string, nodeId: string, publicKey: string): string {
  return `cascadia-join/1 ${nonce} ${nodeId} ${publicKey}`;
}

export function joinProof(joinToken: string, message: string): string {
  return createHmac('sha256', joinToken).update(message, 'utf8').digest('base64url');
}

export function checkJoinProof(joinToken: string, message: string, proof: unknown): boolean {
  if (typeof proof !== 'string') return false;
  const expected = Buffer.from(joinProof(joinToken, message), 'base64url');
  const given = Buffer.from(proof, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
