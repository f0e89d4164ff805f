// Browser-safe entry: nothing here imports Node built-ins (see test/browser-safety.test.ts).
// Node-only helpers (key files) live in '@cascadia/receipts/node'.
export { CanonicalJsonError, canonicalize } from './canonical-json.js';
export { compareBlockNodeIds, compareResponseUsage, verifyCascadiaBlock } from './cascadia-block.js';
export {
  findReceiptInconsistency,
  findStageInconsistency,
  findStageLinkInconsistency,
} from './consistency.js';
export { computeOutputDigest, computeReceiptDigest, computeRequestDigest, sha256Hex } from './digest.js';
export {
  base64urlDecode,
  base64urlEncode,
  bytesToHex,
  EncodingError,
  hexToBytes,
  isBase64url,
  utf8Encode,
} from './encoding.js';
export { ReceiptFormatError } from './errors.js';
export {
  checkSignature,
  decodePrivateKey,
  decodePublicKey,
  generateKeyPair,
  KeyFormatError,
  type KeyPair,
  nodeIdFromPublicKey,
  PRIVATE_KEY_BYTES,
  PUBLIC_KEY_BYTES,
  publicKeyFromPrivateKey,
  SIGNATURE_BYTES,
  type SignatureCheck,
  signBytes,
  verifyBytes,
} from './keys.js';
export { keyDirectoryFromPublished } from './published-keys.js';
export {
  parseSavedResponse,
  type SavedResponse,
  type SavedResponseKind,
  sseDataPayloads,
} from './saved-response.js';
export {
  type CascadiaBlock,
  CascadiaBlockSchema,
  describeSchemaError,
  MAX_STAGES,
  type MeshReceipt,
  type MeshReceiptBody,
  MeshReceiptBodySchema,
  MeshReceiptSchema,
  type PublicKeyDirectory,
  PublicKeyDirectorySchema,
  PublicKeySchema,
  type PublishedKeys,
  PublishedKeysSchema,
  RECEIPT_VERSION,
  type ReceiptUsage,
  Sha256HexSchema,
  SignatureSchema,
  type SignedStage,
  SignedStageSchema,
  type StageStatement,
  StageStatementSchema,
  UsageSchema,
} from './schema.js';
export { signingBytes, signMeshReceipt, signStage } from './sign.js';
export {
  type StageVerifyOptions,
  type StageVerifyResult,
  type VerifyFailure,
  type VerifyFailureReason,
  type VerifyOptions,
  type VerifyResult,
  verifyMeshReceipt,
  verifyStage,
} from './verify.js';
export {
  type SavedResponseVerification,
  type SavedResponseVerifyOptions,
  verifySavedResponse,
} from './verify-saved-response.js';
