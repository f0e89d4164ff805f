/**
 * Data-connection tickets. The coordinator authorises a client (itself, or an upstream node) to
 * open a data connection to one node: `base64url(JSON claims) + "." + signature` signed with the
 * coordinator key. The client must also sign the server's handshake nonce with the key named in
 * the ticket, so a stolen ticket is useless without the client's private key.
 */
import { signMessage, verifyMessage } from './ed25519.js';

export interface TicketClaims {
  /** issuing coordinator id */
  iss: string;
  /** client id (node id, or the coordinator id) */
  sub: string;
  /** the client's public key: it must sign the server nonce */
  sub_key: string;
  /** the node the client may connect to */
  aud: string;
  /** expiry, ms since epoch */
  exp: number;
}

export function issueTicket(claims: TicketClaims, coordinatorPrivateKey: string): string {
  const body = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
  return `${body}.${signMessage(body, coordinatorPrivateKey)}`;
}

export type TicketCheck = { ok: true; claims: TicketClaims } | { ok: false; reason: string };

export function checkTicket(
  ticket: unknown,
  opts: { coordinatorPublicKey: string; audience: string; now?: number },
): TicketCheck {
  if (typeof ticket !== 'string') return { ok: false, reason: 'missing ticket' };
  const dot = ticket.indexOf('.');
  if (dot <= 0) return { ok: false, reason: 'malformed ticket' };
  const body = ticket.slice(0, dot);
  const signature = ticket.slice(dot + 1);
  if (!verifyMessage(body, signature, opts.coordinatorPublicKey)) {
    return { ok: false, reason: 'ticket is not signed by the coordinator this node joined' };
  }
  let claims: TicketClaims;
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TicketClaims;
  } catch {
    return { ok: false, reason: 'malformed ticket claims' };
  }
  if (
    typeof claims.sub !== 'string' ||
    typeof claims.sub_key !== 'string' ||
    typeof claims.exp !== 'number'
  ) {
    return { ok: false, reason: 'malformed ticket claims' };
  }
  if (claims.aud !== opts.audience) return { ok: false, reason: 'ticket is for another node' };
  if (claims.exp < (opts.now ?? Date.now())) return { ok: false, reason: 'ticket expired' };
  return { ok: true, claims };
}

/** The message a client signs to prove it holds `sub_key`: binds the server's nonce and identity. */
export function handshakeMessage(
  role: 'client' | 'server',
  nonce: string,
  serverId: string,
  clientId: string,
): string {
  return `cascadia-mesh/1 ${role} ${nonce} ${serverId} ${clientId}`;
}
