// The built CLI end to end: create a key, serve with a config file, make a metered call, and survive
// a kill -9 mid-request (no settled row lost, no reservation left stuck); one serving process per
// SQLite file; reservation rows left in the database by a crash are reclaimed on start.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayStore, openStore } from '../src/store/index.js';
import { type MockUpstream, startMockUpstream } from './helpers/upstream.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const run = promisify(execFile);

let dir: string;
let upstream: MockUpstream;
let env: NodeJS.ProcessEnv;
let configPath: string;
const children: ChildProcess[] = [];

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args], { env });
  return stdout;
}

/** Starts `serve` on a random port and resolves with its base URL once it listens. */
function serve(timeoutMs = 60_000): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configPath, '--port', '0'], { env });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk.toString();
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match?.[1]) resolve({ child, url: match[1] });
    });
    child.stderr.on('data', (chunk) => (out += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
    setTimeout(
      () => reject(new Error(`serve did not listen within ${timeoutMs} ms: ${out}`)),
      timeoutMs,
    ).unref();
  });
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: build the package before its tests');
  dir = mkdtempSync(join(tmpdir(), 'gateway-cli-'));
  upstream = await startMockUpstream();
  configPath = join(dir, 'gateway.yaml');
  writeFileSync(
    configPath,
    [
      'providers:',
      '  - name: mock',
      `    api_base: ${upstream.url}`,
      'model_list:',
      '  - model_name: local/echo',
      '    litellm_params:',
      '      model: openai/echo',
      `      api_base: ${upstream.url}`,
      'pricing:',
      '  - { model: mock:echo, input_per_million: 1, output_per_million: 2 }',
      '  - { model: mock:hang, input_per_million: 1, output_per_million: 2 }',
      '  - { model: local/echo, input_per_million: 1, output_per_million: 2 }',
      'owners:',
      '  - { id: team-cli, kind: team, name: CLI team, budget: { max_usd: 10, period: monthly } }',
      'settings:',
      '  upstream_timeout_ms: 60000',
      '  reservation_ttl_ms: 61000',
      '  reclaim_interval_ms: 200',
      '',
    ].join('\n'),
  );
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: `file:${join(dir, 'gateway.db')}`,
    GATEWAY_MASTER_KEY: 'cli-test-master-key',
    LOG_LEVEL: 'info',
  };
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('cascadia-gateway CLI', () => {
  it('creates a key, serves, meters a call, refuses a second server on the file, survives kill -9 with nothing stuck', async () => {
    await cli('migrate');
    const created = JSON.parse(await cli('keys', 'create', '--alias', 'demo', '--budget', '1', '--json'));
    expect(created.key).toMatch(/^sk-cas-/);
    expect(created.budget.max_usd).toBe(1);
    const listed = await cli('keys', 'list');
    expect(listed).toContain(created.id);
    expect(listed).not.toContain(created.key);

    const first = await serve();
    const headers = { authorization: `Bearer ${created.key}`, 'content-type': 'application/json' };
    const res = await fetch(`${first.url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        model: 'local/echo',
        messages: [{ role: 'user', content: 'hello' }],
        max_tokens: 3,
      }),
    });
    expect(res.status).toBe(200);
    const usage = JSON.parse(await cli('usage', '--json'));
    expect(usage.data).toHaveLength(1);
    expect(usage.data[0]).toMatchObject({ model: 'local/echo', completion_tokens: 3, status: 'ok' });
    expect(JSON.parse(await cli('owners', 'list', '--json')).data[0].id).toBe('team-cli');

    // A call the upstream never answers holds a reservation (in the serving process's memory);
    // kill -9 the gateway in the middle of it.
    void fetch(`${first.url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        model: 'mock:hang',
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 10,
      }),
    }).catch(() => undefined);
    await expect
      .poll(() => upstream.requests.some((r) => r.model === 'hang'), { timeout: 20_000 })
      .toBe(true);
    const held = (await (await fetch(`${first.url}/v1/key/info`, { headers })).json()) as {
      budget: { reserved_usd: number };
    };
    expect(held.budget.reserved_usd).toBeGreaterThan(0);
    // One serving process per SQLite file: a second one is refused with a clear message while the
    // first runs, and the admin commands keep working.
    await expect(serve()).rejects.toThrow(/already serving .*gateway\.db/);
    expect(await cli('keys', 'list')).toContain(created.id);
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const store: GatewayStore = await openStore(env.DATABASE_URL);
    const afterKill = (await store.getKey(created.id))!;
    expect(afterKill.budget.reservedNusd).toBe(0); // the reservation died with the process: nothing stuck
    expect(afterKill.budget.spentNusd).toBe(usage.data[0].cost_usd * 1e9); // the settled call survived
    await store.close();

    // The lock died with the process too: the gateway restarts on the same file.
    const second = await serve();
    const info = await fetch(`${second.url}/v1/key/info`, { headers });
    expect(((await info.json()) as { budget: unknown }).budget).toMatchObject({
      max_usd: 1,
      reserved_usd: 0,
    });

    await cli('budget', 'set', '--key', created.id, '--usd', '5', '--period', 'weekly');
    const shown = JSON.parse(await cli('keys', 'list', '--json')).data[0];
    expect(shown.budget).toMatchObject({ max_usd: 5, period: 'weekly' });
    const rotated = JSON.parse(await cli('keys', 'rotate', created.id, '--json'));
    expect(rotated.key).not.toBe(created.key);
    expect((await fetch(`${second.url}/v1/key/info`, { headers })).status).toBe(401);
    await cli('keys', 'revoke', created.id);
    expect(
      (await fetch(`${second.url}/v1/key/info`, { headers: { authorization: `Bearer ${rotated.key}` } }))
        .status,
    ).toBe(401);

    // Graceful stop on SIGTERM.
    second.child.kill('SIGTERM');
    const code = await new Promise((resolve) => second.child.once('exit', resolve));
    expect(code).toBe(0);
  }, 180_000);

  it('reclaims reservations left by a crash when the gateway starts', async () => {
    const store = await openStore(env.DATABASE_URL);
    const { key } = await store.createKey({ alias: 'crashed', budget: { maxNusd: 1_000_000 } });
    await store.reserve({
      id: 'req_left_behind',
      keyId: key.id,
      ownerId: null,
      amountNusd: 500_000,
      ttlMs: 1,
      now: Date.now() - 10,
    });
    expect((await store.getKey(key.id))?.budget.reservedNusd).toBe(500_000);
    const started = await serve();
    await expect
      .poll(async () => (await store.getKey(key.id))?.budget.reservedNusd, { timeout: 20_000 })
      .toBe(0);
    const metrics = await (await fetch(`${started.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_reservations_reclaimed_total [1-9]/);
    await store.close();
    started.child.kill('SIGTERM');
    await new Promise((resolve) => started.child.once('exit', resolve));
  }, 120_000);

  it('explains usage errors', async () => {
    await expect(cli('keys', 'create')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--alias'),
    });
    await expect(cli('nonsense')).rejects.toMatchObject({ code: 2 });
  }, 60_000);
});
