/** Ids derived from public keys, so an id can never be claimed without the matching private key. */
export function nodeIdOf(publicKey: string): string {
  return `node-${publicKey.slice(0, 12)}`;
}

export function coordinatorIdOf(publicKey: string): string {
  return `coord-${publicKey.slice(0, 12)}`;
}
