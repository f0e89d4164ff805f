import { canonicalize } from './canonical-json.js';
import { utf8Encode } from './encoding.js';
import { ReceiptFormatError } from './errors.js';
import { publicKeyFromPrivateKey, signBytes } from './keys.js';
import {
  describeSchemaError,
  type MeshReceipt,
  type MeshReceiptBody,
  MeshReceiptBodySchema,
  type SignedStage,
  type StageStatement,
  StageStatementSchema,
} from './schema.js';

/** The exact bytes a signature covers: the UTF-8 of the RFC 8785 canonical JSON of the signed object. */
export function signingBytes(signed: StageStatement | MeshReceiptBody): Uint8Array {
  return utf8Encode(canonicalize(signed));
}

/**
 * A node signs its stage. Throws ReceiptFormatError when the statement does not match the schema or
 * the private key is not the one named by `statement.public_key`.
 */
export async function signStage(statement: StageStatement, privateKey: string): Promise<SignedStage> {
  const parsed = StageStatementSchema.safeParse(statement);
  if (!parsed.success) {
    throw new ReceiptFormatError(`cannot sign stage: ${describeSchemaError(parsed.error, 'statement')}`);
  }
  await assertKeyMatches(privateKey, parsed.data.public_key, 'statement.public_key');
  return { statement: parsed.data, signature: await signBytes(signingBytes(parsed.data), privateKey) };
}

/**
 * The coordinator signs the whole receipt. Checks the format and that the private key belongs to
 * `coordinator_public_key`; it does not re-verify the stages (use verifyMeshReceipt or
 * findReceiptInconsistency for that).
 */
export async function signMeshReceipt(body: MeshReceiptBody, privateKey: string): Promise<MeshReceipt> {
  const parsed = MeshReceiptBodySchema.safeParse(body);
  if (!parsed.success) {
    throw new ReceiptFormatError(`cannot sign receipt: ${describeSchemaError(parsed.error, 'receipt')}`);
  }
  await assertKeyMatches(privateKey, parsed.data.coordinator_public_key, 'receipt.coordinator_public_key');
  return { ...parsed.data, signature: await signBytes(signingBytes(parsed.data), privateKey) };
}

async function assertKeyMatches(privateKey: string, expectedPublicKey: string, field: string): Promise<void> {
  const actual = await publicKeyFromPrivateKey(privateKey);
  if (actual !== expectedPublicKey) {
    throw new ReceiptFormatError(`the private key does not belong to ${field} (its public key is ${actual})`);
  }
}
