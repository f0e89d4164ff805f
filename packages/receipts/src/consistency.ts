/**
 * Checks that a receipt's parts agree with each other. Signatures prove who said what; these checks
 * catch a coordinator (or node) that signed something that cannot be a true account of one request.
 * Each returns null when consistent, or a precise description of the first disagreement.
 */
import type { MeshReceiptBody, StageStatement } from './schema.js';

export function findStageInconsistency(statement: StageStatement, where = 'statement'): string | null {
  if (statement.layer_end <= statement.layer_start) {
    return `${where}: layer range [${statement.layer_start}, ${statement.layer_end}) is empty (layer_end is exclusive)`;
  }
  if (Date.parse(statement.finished_at) < Date.parse(statement.started_at)) {
    return `${where}: finished_at ${statement.finished_at} is before started_at ${statement.started_at}`;
  }
  return null;
}

export function findReceiptInconsistency(receipt: MeshReceiptBody): string | null {
  const { usage } = receipt;
  if (usage.total_tokens !== usage.prompt_tokens + usage.completion_tokens) {
    return `usage.total_tokens is ${usage.total_tokens} but prompt_tokens + completion_tokens is ${usage.prompt_tokens + usage.completion_tokens}`;
  }
  if (receipt.node_ids.length !== receipt.stages.length) {
    return `node_ids lists ${receipt.node_ids.length} node(s) but the receipt has ${receipt.stages.length} stage(s)`;
  }
  let expectedStart = 0;
  for (const [index, stage] of receipt.stages.entries()) {
    const statement = stage.statement;
    const where = `stages[${index}] (node ${statement.node_id})`;
    if (receipt.node_ids[index] !== statement.node_id) {
      return `node_ids[${index}] is "${receipt.node_ids[index]}" but stages[${index}].statement.node_id is "${statement.node_id}"`;
    }
    if (statement.request_id !== receipt.request_id) {
      return `${where}: statement.request_id "${statement.request_id}" differs from the receipt's "${receipt.request_id}"`;
    }
    if (statement.model_id !== receipt.model_id) {
      return `${where}: statement.model_id "${statement.model_id}" differs from the receipt's "${receipt.model_id}"`;
    }
    if (statement.layer_start !== expectedStart) {
      return index === 0
        ? `${where}: statement.layer_start is ${statement.layer_start}; the first stage must start at layer 0`
        : `${where}: statement.layer_start is ${statement.layer_start} but the previous stage ended at layer ${expectedStart}`;
    }
    const own = findStageInconsistency(statement, `${where}.statement`);
    if (own) return own;
    expectedStart = statement.layer_end;
  }
  return null;
}

/** Each stage's output is the next stage's input (an opt-in check, see VerifyOptions.requireLinkedStages). */
export function findStageLinkInconsistency(receipt: MeshReceiptBody): string | null {
  for (let index = 1; index < receipt.stages.length; index++) {
    const previous = receipt.stages[index - 1]!.statement;
    const current = receipt.stages[index]!.statement;
    if (previous.output_digest !== current.input_digest) {
      return `stages[${index}] (node ${current.node_id}): statement.input_digest ${current.input_digest} is not the output_digest ${previous.output_digest} of stages[${index - 1}] (node ${previous.node_id})`;
    }
  }
  return null;
}
