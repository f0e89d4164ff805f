import { ReceiptFormatError } from './errors.js';
import {
  describeSchemaError,
  type PublicKeyDirectory,
  PublicKeyDirectorySchema,
  PublishedKeysSchema,
} from './schema.js';

/**
 * Builds the verifier's key directory from the coordinator's `GET /v1/cascadia/keys` document
 * (`{ coordinator: { id, public_key }, nodes: [{ node_id, public_key }] }`). A document that already
 * has the directory's shape (`{ coordinator: string[], nodes: { [node_id]: key } }`) is accepted too,
 * so a saved directory works wherever a published document does. Throws ReceiptFormatError with the
 * first problem found; a node id listed twice with different keys is refused rather than guessed.
 */
export function keyDirectoryFromPublished(json: unknown): PublicKeyDirectory {
  const directory = PublicKeyDirectorySchema.safeParse(json);
  if (directory.success) return directory.data;

  const published = PublishedKeysSchema.safeParse(json);
  if (!published.success) {
    throw new ReceiptFormatError(
      `published keys document is invalid: ${describeSchemaError(published.error, '')}`,
    );
  }
  const nodes: Record<string, string> = {};
  for (const [index, node] of published.data.nodes.entries()) {
    const existing = Object.hasOwn(nodes, node.node_id) ? nodes[node.node_id] : undefined;
    if (existing !== undefined && existing !== node.public_key) {
      throw new ReceiptFormatError(
        `published keys document is invalid: nodes[${index}] lists node "${node.node_id}" again with a different key`,
      );
    }
    nodes[node.node_id] = node.public_key;
  }
  return { coordinator: [published.data.coordinator.public_key], nodes };
}
