import { z } from 'zod';
import {
  findReceiptInconsistency,
  findStageInconsistency,
  findStageLinkInconsistency,
} from './consistency.js';
import { safeDetail } from './display.js';
import { checkSignature } from './keys.js';
import {
  describeSchemaError,
  type MeshReceipt,
  MeshReceiptSchema,
  type PublicKeyDirectory,
  PublicKeyDirectorySchema,
  PublicKeySchema,
  type SignedStage,
  SignedStageSchema,
} from './schema.js';
import { signingBytes } from './sign.js';

export type VerifyFailureReason =
  | 'malformed'
  | 'unknown_key'
  | 'bad_signature'
  | 'digest_mismatch'
  | 'inconsistent';

export interface VerifyFailure {
  ok: false;
  reason: VerifyFailureReason;
  /** Which part failed and how, e.g. `stages[1] (node node-abc): signature does not verify`. */
  detail: string;
}

export type VerifyResult = { ok: true; receipt: MeshReceipt } | VerifyFailure;
export type StageVerifyResult = { ok: true; stage: SignedStage } | VerifyFailure;

export interface VerifyOptions {
  keys: PublicKeyDirectory;
  /** Expected request_digest (sha256 hex), e.g. computeRequestDigest(body). */
  requestDigest?: string;
  /** Expected output_digest (sha256 hex), e.g. computeOutputDigest(text). */
  outputDigest?: string;
  /**
   * Also require each stage's output_digest to equal the next stage's input_digest, i.e. that
   * every node computed on exactly what the previous one produced. Meshes whose nodes hash the
   * activation bytes they send and receive satisfy it; a replayed or resumed pipeline may not.
   */
  requireLinkedStages?: boolean;
}

function fail(reason: VerifyFailureReason, detail: string): VerifyFailure {
  return { ok: false, reason, detail: safeDetail(detail) };
}

/**
 * Verifies a mesh receipt, in this order: format (malformed), coordinator key trusted (unknown_key),
 * coordinator signature (bad_signature), each stage's key is the published key of its node
 * (unknown_key), each stage signature (bad_signature), the parts agree (inconsistent), and the
 * optional expected digests (digest_mismatch). Never throws; any input is answered with a result.
 */
export async function verifyMeshReceipt(receipt: unknown, opts: VerifyOptions): Promise<VerifyResult> {
  try {
    return await verifyMeshReceiptUnsafe(receipt, opts);
  } catch (error) {
    // Defensive: every known failure is returned above; an exception here means unexpected input
    // (for example a getter that throws), which is still the caller's malformed input.
    return fail(
      'malformed',
      `could not be verified: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

async function verifyMeshReceiptUnsafe(receipt: unknown, opts: VerifyOptions): Promise<VerifyResult> {
  const keys = PublicKeyDirectorySchema.safeParse((opts as Partial<VerifyOptions> | undefined)?.keys);
  if (!keys.success) return fail('malformed', `options.${describeSchemaError(keys.error, 'keys')}`);

  const parsed = MeshReceiptSchema.safeParse(receipt);
  if (!parsed.success) return fail('malformed', describeSchemaError(parsed.error, 'receipt'));
  const { signature, ...body } = parsed.data;

  if (!keys.data.coordinator.includes(body.coordinator_public_key)) {
    return fail(
      'unknown_key',
      `coordinator_public_key ${body.coordinator_public_key} (coordinator "${body.coordinator_id}") is not a trusted coordinator key`,
    );
  }
  const coordinatorCheck = await checkSignature(signature, signingBytes(body), body.coordinator_public_key);
  if (!coordinatorCheck.valid) {
    return fail(
      coordinatorCheck.problem,
      `receipt signature (coordinator "${body.coordinator_id}"): ${coordinatorCheck.detail}`,
    );
  }

  for (const [index, stage] of body.stages.entries()) {
    const where = `stages[${index}] (node ${stage.statement.node_id})`;
    const keyFailure = checkStageKey(stage, keys.data, where);
    if (keyFailure) return keyFailure;
    const stageCheck = await checkSignature(
      stage.signature,
      signingBytes(stage.statement),
      stage.statement.public_key,
    );
    if (!stageCheck.valid) return fail(stageCheck.problem, `${where}: stage ${stageCheck.detail}`);
  }

  const inconsistency =
    findReceiptInconsistency(body) ?? (opts.requireLinkedStages ? findStageLinkInconsistency(body) : null);
  if (inconsistency) return fail('inconsistent', inconsistency);

  const digestFailure =
    compareDigest('request_digest', body.request_digest, opts.requestDigest) ??
    compareDigest('output_digest', body.output_digest, opts.outputDigest);
  if (digestFailure) return digestFailure;

  return { ok: true, receipt: parsed.data };
}

function checkStageKey(stage: SignedStage, keys: PublicKeyDirectory, where: string): VerifyFailure | null {
  const { node_id: nodeId, public_key: publicKey } = stage.statement;
  if (!Object.hasOwn(keys.nodes, nodeId)) {
    return fail('unknown_key', `${where}: node "${nodeId}" is not in the key directory`);
  }
  const published = keys.nodes[nodeId];
  if (published !== publicKey) {
    return fail(
      'unknown_key',
      `${where}: statement.public_key ${publicKey} is not the published key of node "${nodeId}" (${published})`,
    );
  }
  return null;
}

function compareDigest(field: string, actual: string, expected: string | undefined): VerifyFailure | null {
  if (expected === undefined) return null;
  if (typeof expected !== 'string' || !/^[0-9a-fA-F]{64}$/.test(expected)) {
    return fail('digest_mismatch', `${field}: the expected value given is not a sha256 hex digest`);
  }
  if (expected.toLowerCase() !== actual) {
    return fail('digest_mismatch', `${field}: receipt has ${actual}, expected ${expected.toLowerCase()}`);
  }
  return null;
}

export interface StageVerifyOptions {
  /** The key the stage must be signed with (e.g. the key the node registered with). */
  publicKey?: string;
  /** node_id -> public key; the statement's node must be listed with its key. */
  nodes?: Record<string, string>;
}

const StageVerifyOptionsSchema = z.strictObject({
  publicKey: PublicKeySchema.optional(),
  nodes: z.record(z.string(), PublicKeySchema).optional(),
});

/**
 * Verifies one signed stage on its own (what a coordinator does with a node's answer): format,
 * that the key is the expected one (`publicKey`, or the node's entry in `nodes`), the signature,
 * and that the statement is self-consistent (non-empty layer range, finished after started).
 * Never throws. Unknown option fields are refused (malformed) so a misspelt expectation cannot
 * silently turn the key check off.
 */
export async function verifyStage(stage: unknown, opts: StageVerifyOptions = {}): Promise<StageVerifyResult> {
  try {
    const options = StageVerifyOptionsSchema.safeParse(opts);
    if (!options.success) {
      return fail(
        'malformed',
        `${describeSchemaError(options.error, 'options')} (expected publicKey and/or nodes)`,
      );
    }
    const parsed = SignedStageSchema.safeParse(stage);
    if (!parsed.success) return fail('malformed', describeSchemaError(parsed.error, 'stage'));
    const { statement, signature } = parsed.data;
    const { publicKey, nodes } = options.data;
    if (publicKey !== undefined && publicKey !== statement.public_key) {
      return fail(
        'unknown_key',
        `statement.public_key ${statement.public_key} is not the expected key ${publicKey}`,
      );
    }
    if (nodes !== undefined) {
      if (!Object.hasOwn(nodes, statement.node_id)) {
        return fail('unknown_key', `node "${statement.node_id}" is not in the key directory`);
      }
      if (nodes[statement.node_id] !== statement.public_key) {
        return fail(
          'unknown_key',
          `statement.public_key ${statement.public_key} is not the published key of node "${statement.node_id}" (${nodes[statement.node_id]})`,
        );
      }
    }
    const check = await checkSignature(signature, signingBytes(statement), statement.public_key);
    if (!check.valid) return fail(check.problem, `stage ${check.detail}`);
    const inconsistency = findStageInconsistency(statement);
    if (inconsistency) return fail('inconsistent', inconsistency);
    return { ok: true, stage: parsed.data };
  } catch (error) {
    return fail(
      'malformed',
      `could not be verified: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
