/**
 * The receipt format, version 1. README.md of this package is the prose description; this file is
 * the executable one. Signed objects are strict: an unknown field makes a document malformed, because
 * a field the verifier ignored would still be covered by (or missing from) the signature and readers
 * could be misled by it.
 */
import { z } from 'zod';
import { quote, safeDetail } from './display.js';
import { isBase64url } from './encoding.js';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './keys.js';

export const RECEIPT_VERSION = 1;

/**
 * Upper bound on pipeline stages. Far above any real pipeline (one layer per stage of an 80-layer
 * model is 80), and it bounds what a verifier in a browser tab can be made to compute.
 */
export const MAX_STAGES = 256;

/** Lowercase hex SHA-256. */
export const Sha256HexSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, { error: 'expected a lowercase hex SHA-256 digest (64 characters)' });

export const PublicKeySchema = z.string().refine((value) => isBase64url(value, PUBLIC_KEY_BYTES), {
  error: 'expected a 32-byte ed25519 public key in unpadded base64url',
});

export const SignatureSchema = z.string().refine((value) => isBase64url(value, SIGNATURE_BYTES), {
  error: 'expected a 64-byte ed25519 signature in unpadded base64url',
});

const IdentifierSchema = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(256, { error: 'must be at most 256 characters' })
  // Ids are printed by tools and shown in UIs; control and format characters (escapes, bidi
  // overrides, zero-width characters) would let an id disguise itself.
  .regex(/^[^\p{Cc}\p{Cf}]+$/u, { error: 'must not contain control or format characters' });

const TimestampSchema = z.iso.datetime({ offset: true, error: 'expected an ISO 8601 date-time string' });

const CountSchema = z.int().nonnegative();

/** What one mesh node signs for the part of a request it computed. */
export const StageStatementSchema = z.strictObject({
  v: z.literal(RECEIPT_VERSION, { error: `unsupported version (this verifier reads v: ${RECEIPT_VERSION})` }),
  kind: z.literal('stage', { error: 'expected kind "stage"' }),
  request_id: IdentifierSchema,
  node_id: IdentifierSchema,
  public_key: PublicKeySchema,
  model_id: IdentifierSchema,
  /** `digest` of the shard manifest the node served (sha256 of its canonical JSON without `digest`). */
  shard_digest: Sha256HexSchema,
  /** First layer of the stage (inclusive). */
  layer_start: CountSchema,
  /** End of the stage's layer range (exclusive). */
  layer_end: CountSchema,
  /** Digest of everything the stage received for this request (tokens or hidden states). */
  input_digest: Sha256HexSchema,
  /** Digest of everything the stage produced for this request (hidden states or logits/tokens). */
  output_digest: Sha256HexSchema,
  /** Number of positions the stage processed. */
  tokens: CountSchema,
  started_at: TimestampSchema,
  finished_at: TimestampSchema,
});
export type StageStatement = z.infer<typeof StageStatementSchema>;

/** A stage statement with the node's signature over `canonicalize(statement)` (UTF-8). */
export const SignedStageSchema = z.strictObject({
  statement: StageStatementSchema,
  signature: SignatureSchema,
});
export type SignedStage = z.infer<typeof SignedStageSchema>;

export const UsageSchema = z.strictObject({
  prompt_tokens: CountSchema,
  completion_tokens: CountSchema,
  total_tokens: CountSchema,
});
export type ReceiptUsage = z.infer<typeof UsageSchema>;

const meshReceiptBodyShape = {
  v: z.literal(RECEIPT_VERSION, { error: `unsupported version (this verifier reads v: ${RECEIPT_VERSION})` }),
  kind: z.literal('mesh', { error: 'expected kind "mesh"' }),
  request_id: IdentifierSchema,
  created_at: TimestampSchema,
  model_id: IdentifierSchema,
  coordinator_id: IdentifierSchema,
  coordinator_public_key: PublicKeySchema,
  /** sha256Hex(canonicalize(request body as the coordinator received it)). */
  request_digest: Sha256HexSchema,
  /** sha256Hex(full generated text, UTF-8). */
  output_digest: Sha256HexSchema,
  usage: UsageSchema,
  /** The pipeline, in order: equal to `stages[i].statement.node_id`. */
  node_ids: z
    .array(IdentifierSchema)
    .min(1, { error: 'a receipt names at least one node' })
    .max(MAX_STAGES, { error: `a receipt names at most ${MAX_STAGES} nodes` }),
  stages: z
    .array(SignedStageSchema)
    .min(1, { error: 'a receipt has at least one stage' })
    .max(MAX_STAGES, { error: `a receipt has at most ${MAX_STAGES} stages` }),
};

/** Everything the coordinator signs: a MeshReceipt without its `signature`. */
export const MeshReceiptBodySchema = z.strictObject(meshReceiptBodyShape);
export type MeshReceiptBody = z.infer<typeof MeshReceiptBodySchema>;

/** What the coordinator signs for a whole response; `signature` covers `canonicalize(body)`. */
export const MeshReceiptSchema = z.strictObject({ ...meshReceiptBodyShape, signature: SignatureSchema });
export type MeshReceipt = z.infer<typeof MeshReceiptSchema>;

/**
 * The `cascadia` block of a mesh response (top-level field of a chat.completion, or of the final
 * stream chunk). `node_ids` repeats the receipt's for convenience; it is not signed by itself, so a
 * verifier compares it with the receipt's. Loose: hops may add fields next to these.
 */
export const CascadiaBlockSchema = z.looseObject({
  node_ids: z.array(z.string()),
  receipt: MeshReceiptSchema,
});
export type CascadiaBlock = z.infer<typeof CascadiaBlockSchema>;

/** The coordinator's `GET /v1/cascadia/keys` document. Loose so the coordinator may add fields. */
export const PublishedKeysSchema = z.looseObject({
  v: z.literal(RECEIPT_VERSION).optional(),
  coordinator: z.looseObject({ id: IdentifierSchema, public_key: PublicKeySchema }),
  nodes: z.array(z.looseObject({ node_id: IdentifierSchema, public_key: PublicKeySchema })),
});
export type PublishedKeys = z.infer<typeof PublishedKeysSchema>;

/** Which keys a verifier trusts. */
export const PublicKeyDirectorySchema = z.strictObject({
  /** Trusted coordinator public keys. */
  coordinator: z.array(PublicKeySchema),
  /** node_id -> public key. */
  nodes: z.record(z.string(), PublicKeySchema),
});
export type PublicKeyDirectory = z.infer<typeof PublicKeyDirectorySchema>;

/** Renders the first problem zod found as `where: what`, e.g. `stages[1].statement.tokens: expected int`. */
export function describeSchemaError(error: z.ZodError, root: string): string {
  const issue = error.issues[0];
  if (!issue) return `${root}: invalid`;
  let where = root;
  for (const segment of issue.path) {
    if (typeof segment === 'number') where += `[${segment}]`;
    else where += where ? `.${String(segment)}` : String(segment);
  }
  let what = issue.message;
  if (issue.code === 'unrecognized_keys')
    what = `unknown field(s) ${issue.keys.map((k) => quote(k)).join(', ')}`;
  return safeDetail(`${where || '(root)'}: ${what}`);
}
