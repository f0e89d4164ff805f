/** Runs the built CLI (dist/cli.js, built by `turbo test`'s dependency on `build`) as a user would. */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clone, type Fixture, makeFixture, REQUEST_BODY } from './fixture.js';
import { chatCompletion, sseStream } from './responses.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = join(packageDir, 'dist', 'cli.js');

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Fails clearly when dist/ is missing or older than src/, instead of testing stale code. */
async function assertBuilt(): Promise<void> {
  const built = await stat(cliPath).catch(() => null);
  if (!built) throw new Error(`${cliPath} is missing: run the package build first (turbo test does)`);
  for (const file of await readdir(join(packageDir, 'src'))) {
    const source = await stat(join(packageDir, 'src', file));
    if (source.mtimeMs > built.mtimeMs + 1000) {
      throw new Error(`dist/ is older than src/${file}: run the package build first (turbo test does)`);
    }
  }
}

describe('cascadia-receipts CLI', () => {
  let f: Fixture;
  let dir: string;
  let server: Server;
  let keysUrl: string;
  const file = (name: string) => join(dir, name);

  beforeAll(async () => {
    await assertBuilt();
    f = await makeFixture();
    dir = await mkdtemp(join(tmpdir(), 'receipts-cli-'));
    await writeFile(file('keys.json'), JSON.stringify(f.published));
    await writeFile(file('completion.json'), JSON.stringify(chatCompletion(f), null, 2));
    await writeFile(file('stream.sse'), sseStream(f));
    await writeFile(file('receipt.json'), JSON.stringify(f.receipt));
    await writeFile(file('request.json'), JSON.stringify(REQUEST_BODY, null, 4));
    await writeFile(file('output.txt'), chatCompletion(f).choices[0]!.message.content);
    server = createServer((req, res) => {
      if (req.url === '/v1/cascadia/keys') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(f.published));
      } else {
        res.writeHead(404).end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    keysUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/cascadia/keys`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('verifies a saved chat.completion against a keys file, including its text', async () => {
    const run = await runCli(['verify', file('completion.json'), '--keys', file('keys.json')]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toBe(`OK nodes: ${f.nodeIds.join(', ')}`);
    expect(run.stdout).toContain('output_digest checked against the response text');
    expect(run.stdout).toContain('response usage matches the signed usage');
    expect(run.stdout).toContain(`stage 1: ${f.nodeIds[1]} layers 15-29, 41 positions`);
  });

  it('verifies a saved SSE stream against keys fetched over HTTP', async () => {
    const run = await runCli(['verify', file('stream.sse'), '--keys', keysUrl, '--linked-stages']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^OK nodes: /);
    expect(run.stdout).toContain('output_digest checked against the response text');
    expect(run.stdout).toContain('response usage matches the signed usage');
    expect(run.stdout).toContain('stages linked');
  });

  it('verifies a bare receipt with --request and --output-text', async () => {
    const run = await runCli([
      'verify',
      file('receipt.json'),
      '--keys',
      file('keys.json'),
      '--request',
      file('request.json'),
      '--output-text',
      file('output.txt'),
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('request_digest checked\n');
    expect(run.stdout).toContain(`output_digest checked against ${file('output.txt')}`);
  });

  it('fails with exit 1 and the reason when anything does not match', async () => {
    await writeFile(file('other-request.json'), JSON.stringify({ ...REQUEST_BODY, max_tokens: 33 }));
    const edited = chatCompletion(f);
    edited.choices[0]!.message.content += '!';
    await writeFile(file('edited-text.json'), JSON.stringify(edited));
    const forged = clone(f.receipt);
    forged.usage.completion_tokens = 1;
    await writeFile(file('forged.json'), JSON.stringify(forged));
    const relabelled = chatCompletion(f);
    relabelled.cascadia.node_ids.reverse();
    await writeFile(file('relabelled.json'), JSON.stringify(relabelled));
    await writeFile(
      file('no-receipt.json'),
      JSON.stringify({ id: 'x', object: 'chat.completion', choices: [] }),
    );
    await writeFile(file('output-newline.txt'), `${chatCompletion(f).choices[0]!.message.content}\n`);
    const rebilled = chatCompletion(f);
    rebilled.usage = { ...rebilled.usage, completion_tokens: 500, total_tokens: 531 };
    await writeFile(file('rebilled.json'), JSON.stringify(rebilled));

    const expectations: [string[], RegExp][] = [
      [['receipt.json', '--request', file('other-request.json')], /^FAIL digest_mismatch: request_digest: /],
      [['edited-text.json'], /^FAIL digest_mismatch: output_digest: /],
      [
        ['receipt.json', '--output-text', file('output-newline.txt')],
        /^FAIL digest_mismatch: output_digest: /,
      ],
      [['forged.json'], /^FAIL bad_signature: receipt signature/],
      [['relabelled.json'], /^FAIL inconsistent: cascadia\.node_ids /],
      [['no-receipt.json'], /^FAIL malformed: no receipt found/],
      [['rebilled.json'], /^FAIL inconsistent: response usage \(prompt_tokens 31, completion_tokens 500/],
    ];
    for (const [[name, ...extra], output] of expectations) {
      const run = await runCli(['verify', file(name!), '--keys', file('keys.json'), ...extra]);
      expect(run.code, name).toBe(1);
      expect(run.stdout, name).toMatch(output);
    }
    // The edited text passes when the text check is turned off: the receipt itself is genuine.
    const unchecked = await runCli([
      'verify',
      file('edited-text.json'),
      '--keys',
      file('keys.json'),
      '--no-output-check',
    ]);
    expect(unchecked.code).toBe(0);
    expect(unchecked.stdout).toContain('output_digest not checked');
  });

  it('prints a JSON summary with --json', async () => {
    const ok = await runCli(['verify', file('completion.json'), '--keys', file('keys.json'), '--json']);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      ok: true,
      request_id: f.receipt.request_id,
      node_ids: f.nodeIds,
    });
    const bad = await runCli(['verify', file('forged.json'), '--keys', file('keys.json'), '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('exits 2 with usage for bad arguments and unusable inputs', async () => {
    await writeFile(file('bad-keys.json'), '{"coordinator": {}}');
    const cases: [string[], RegExp][] = [
      [[], /missing command/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['verify', file('completion.json')], /verify needs --keys/],
      [['verify', '--keys', file('keys.json')], /verify takes exactly one file/],
      [
        ['verify', file('completion.json'), '--keys', file('keys.json'), '--bogus'],
        /Unknown option '--bogus'/,
      ],
      [
        ['verify', file('missing.json'), '--keys', file('keys.json')],
        /cannot read file .*missing\.json \(ENOENT\)/,
      ],
      [
        ['verify', file('completion.json'), '--keys', file('bad-keys.json')],
        /published keys document is invalid/,
      ],
      [['verify', file('completion.json'), '--keys', keysUrl.replace('/keys', '/nope')], /HTTP 404/],
      [
        ['verify', file('completion.json'), '--keys', file('keys.json'), '--request', file('stream.sse')],
        /request file .* is not valid JSON/,
      ],
      [['keygen'], /keygen takes exactly one path/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(message);
      expect(run.stderr, args.join(' ')).toContain('usage:');
    }
  });

  it('keygen writes a 0600 key file, prints only the public half, and never overwrites', async () => {
    const path = file('keys/coordinator.json');
    const run = await runCli(['keygen', path, '--kid', 'coordinator-main']);
    expect(run.code).toBe(0);
    const document = JSON.parse(await readFile(path, 'utf8')) as { x: string; d: string; kid: string };
    expect(document.kid).toBe('coordinator-main');
    expect(run.stdout).toContain(`public_key: ${document.x}`);
    expect(run.stdout).not.toContain(document.d);
    if (process.platform !== 'win32') expect((await stat(path)).mode & 0o777).toBe(0o600);

    const again = await runCli(['keygen', path]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists; refusing to overwrite/);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(document);
  });
});
