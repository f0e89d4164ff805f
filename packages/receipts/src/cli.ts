#!/usr/bin/env node
/**
 * cascadia-receipts: verify a saved mesh response or receipt against published keys, or create a
 * key file. Exit codes: 0 verified / done, 1 verification failed, 2 usage or input error (the
 * verification could not be attempted).
 */
import { readFile } from 'node:fs/promises';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import {
  computeRequestDigest,
  keyDirectoryFromPublished,
  type PublicKeyDirectory,
  ReceiptFormatError,
  type SavedResponseVerifyOptions,
  sha256Hex,
  type VerifyResult,
  verifySavedResponse,
} from './index.js';
import { createKeyFile, KeyFileError } from './node.js';

const USAGE = `usage:
  cascadia-receipts verify <response-or-receipt.json> --keys <keys.json | http(s)://.../v1/cascadia/keys>
                           [--request <request.json>] [--output-text <file>] [--no-output-check]
                           [--linked-stages] [--json]
      Verifies the receipt in a saved chat.completion JSON, a saved SSE stream, a cascadia block or a
      bare receipt. The output text found in the response is checked against output_digest unless
      --no-output-check; --output-text checks a file's exact bytes instead. --request checks
      request_digest against the request body exactly as the coordinator received it. The response's
      usage and cascadia.node_ids must match the signed ones. --linked-stages also requires each
      stage's input digest to be the previous stage's output digest.
  cascadia-receipts keygen <path> [--kid <id>]
      Writes a new ed25519 key file (mode 0600) and prints its public key; never overwrites.

exit codes: 0 ok, 1 verification failed, 2 usage or input error`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'verify':
      return verifyCommand(rest);
    case 'keygen':
      return keygenCommand(rest);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'missing command');
  }
}

function parse<const O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true as const, strict: true as const });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function readInput(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

async function readInputBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`${what} is not valid JSON`);
  }
}

async function loadKeys(source: string): Promise<PublicKeyDirectory> {
  let text: string;
  if (/^https?:\/\//i.test(source)) {
    let response: Response;
    try {
      response = await fetch(source, {
        signal: AbortSignal.timeout(15_000),
        headers: { accept: 'application/json' },
      });
    } catch (error) {
      throw new UsageError(`cannot fetch keys from ${source}: ${(error as Error).message}`);
    }
    if (!response.ok) throw new UsageError(`cannot fetch keys from ${source}: HTTP ${response.status}`);
    text = await response.text();
  } else {
    text = await readInput(source, 'keys file');
  }
  try {
    return keyDirectoryFromPublished(parseJson(text, `keys document ${source}`));
  } catch (error) {
    if (error instanceof ReceiptFormatError) throw new UsageError(error.message);
    throw error;
  }
}

async function verifyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    keys: { type: 'string' },
    request: { type: 'string' },
    'output-text': { type: 'string' },
    'no-output-check': { type: 'boolean' },
    'linked-stages': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new UsageError('verify takes exactly one file');
  if (!values.keys) throw new UsageError('verify needs --keys <keys.json or URL>');
  const file = positionals[0]!;

  const text = await readInput(file, 'file');
  const keys = await loadKeys(values.keys);
  const requestDigest = values.request
    ? requestDigestOf(
        parseJson(await readInput(values.request, 'request file'), `request file ${values.request}`),
      )
    : undefined;

  const opts: SavedResponseVerifyOptions = { keys };
  if (requestDigest) opts.requestDigest = requestDigest;
  if (values['output-text']) {
    // The file's exact bytes: the generated text as UTF-8, with no decoding in between.
    opts.outputDigest = sha256Hex(await readInputBytes(values['output-text'], 'output text file'));
  }
  if (values['no-output-check']) opts.checkResponseText = false;
  if (values['linked-stages']) opts.requireLinkedStages = true;
  const { result, checks } = await verifySavedResponse(text, opts);
  const notes = checks.map((check) =>
    check === 'output_digest checked against the given text'
      ? `output_digest checked against ${values['output-text']}`
      : check,
  );
  return report(result, values.json, notes);
}

function requestDigestOf(body: unknown): string {
  try {
    return computeRequestDigest(body);
  } catch (error) {
    throw new UsageError(`request file cannot be canonicalized: ${(error as Error).message}`);
  }
}

function report(result: VerifyResult, json: boolean | undefined, notes: string[]): number {
  if (json) {
    const summary = result.ok
      ? { ok: true, request_id: result.receipt.request_id, node_ids: result.receipt.node_ids, notes }
      : { ok: false, reason: result.reason, detail: result.detail };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return result.ok ? 0 : 1;
  }
  if (!result.ok) {
    process.stdout.write(`FAIL ${result.reason}: ${result.detail}\n`);
    return 1;
  }
  const r = result.receipt;
  const lines = [
    `OK nodes: ${r.node_ids.join(', ')}`,
    `  request_id:  ${r.request_id}`,
    `  model_id:    ${r.model_id}`,
    `  coordinator: ${r.coordinator_id} (${r.coordinator_public_key})`,
    `  usage:       ${r.usage.prompt_tokens} prompt + ${r.usage.completion_tokens} completion tokens`,
    ...r.stages.map(
      (s, i) =>
        `  stage ${i}: ${s.statement.node_id} layers ${s.statement.layer_start}-${s.statement.layer_end - 1}, ${s.statement.tokens} positions`,
    ),
    ...notes.map((note) => `  ${note}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function keygenCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { kid: { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('keygen takes exactly one path');
  const opts: { kid?: string } = {};
  if (values.kid !== undefined) opts.kid = values.kid;
  try {
    const key = await createKeyFile(positionals[0]!, opts);
    process.stdout.write(`created ${key.path}\n  kid:        ${key.kid}\n  public_key: ${key.publicKey}\n`);
    return 0;
  } catch (error) {
    if (error instanceof KeyFileError) throw new UsageError(error.message);
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`cascadia-receipts: ${error.message}\n\n${USAGE}\n`);
    } else {
      process.stderr.write(`cascadia-receipts: ${error instanceof Error ? error.message : String(error)}\n`);
    }
    process.exitCode = 2;
  },
);
