/**
 * End to end in Chromium against the full local stack started by scripts/stack-lib.mjs on random
 * ports: mesh (coordinator + 2 nodes serving SmolLM2), gateway with a demo key, and this app.
 * Runs every demo to completion and checks streaming, node ids, receipts verified in the browser,
 * usage, a tampered receipt failing, and that no response carries the key. Screenshots go to
 * test-results/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMOS } from '../lib/demos';
import { executionOrder } from '../lib/pipeline';

interface Stack {
  urls: { web: string; gateway: string; coordinator: string };
  virtualKey: string;
  virtualKeyId: string;
  gatewayCli: (args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>;
  logDir: string;
  exited: Promise<{ part: string; message: string } | null>;
  stop: () => Promise<void>;
}
interface StackLib {
  missingStackParts: (root?: string) => { part: string; message: string }[];
  startStack: (options: Record<string, unknown>) => Promise<Stack>;
}

const REPO = join(import.meta.dirname, '../../..');
const RESULTS = join(import.meta.dirname, '../test-results');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const lib = (await import(join(REPO, 'scripts/stack-lib.mjs'))) as StackLib;

const missing = lib.missingStackParts(REPO).map((m) => `${m.part}: ${m.message}`);
if (!existsSync(CHROMIUM)) missing.push(`chromium: no browser at ${CHROMIUM} (set CHROMIUM_PATH)`);
if (missing.length > 0) {
  console.log(`[e2e] the full-stack test cannot run; missing parts:\n  - ${missing.join('\n  - ')}`);
}

/**
 * Shards are exported afresh into the test's own cache directory (seconds for this model), so the
 * test always runs the engine's current shard format; the GGUF itself comes from the shared cache.
 */
function meshEnv(dataDir: string): Record<string, string> {
  const gguf =
    process.env.SMOLLM2_GGUF || join(homedir(), '.cache/cascadia/models/SmolLM2-135M-Instruct.Q4_1.gguf');
  return existsSync(gguf) ? { SMOLLM2_GGUF: gguf, CASCADIA_CACHE: join(dataDir, 'models') } : {};
}

describe.skipIf(missing.length > 0)('full stack in Chromium', () => {
  let stack: Stack;
  let browser: Browser;
  let page: Page;
  let dataDir: string;
  const apiBodies: { url: string; body: string }[] = [];
  let stackDied: Promise<never>;

  /** Waits for `promise`, failing at once with the part's own output if a stack process dies meanwhile. */
  const whileStackAlive = <T>(promise: Promise<T>): Promise<T> => Promise.race([promise, stackDied]);

  beforeAll(async () => {
    mkdirSync(RESULTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'cascadia-e2e-'));
    stack = await lib.startStack({
      ports: { coordinator: 0, nodes: 0, gateway: 0, web: 0 },
      dataDir,
      env: meshEnv(dataDir),
      log: (line: string) => console.log(`[stack] ${line}`),
      timeouts: { mesh: 8 * 60_000 },
    });
    stackDied = stack.exited.then((died) => {
      throw new Error(died ? `the stack's ${died.part} process ${died.message}` : 'the stack was stopped');
    });
    stackDied.catch(() => {});
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('response', async (response) => {
      if (!response.url().startsWith(stack.urls.web)) return;
      try {
        apiBodies.push({
          url: response.url(),
          body: `${JSON.stringify(await response.allHeaders())}\n${await response.text()}`,
        });
      } catch {
        // bodies of redirects and aborted streams are not available; headers were checked above
      }
    });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  for (const demo of DEMOS) {
    it(`runs "${demo.title}" to completion with streamed steps, node ids and verified receipts`, async () => {
      await page.goto(`${stack.urls.web}/demos/${demo.id}`);
      // Record, for every step, the moment its card first shows streamed text while still running,
      // and every step's status at the first such moment. The observer runs on each DOM change, so
      // a step that streams for a few hundred milliseconds is seen: polling from the test (a
      // locator waiting for the running card) missed such a step once the mesh answered fast.
      await page.evaluate(
        (ids) => {
          const w = window as unknown as {
            streamedSteps: string[];
            statusesAtFirstStream: (string | null)[];
          };
          const seen: string[] = [];
          w.streamedSteps = seen;
          new MutationObserver(() => {
            for (const card of document.querySelectorAll('[data-step][data-status="running"]')) {
              const id = card.getAttribute('data-step') ?? '';
              if (
                !seen.includes(id) &&
                card.querySelector('[data-testid="step-text"]')?.textContent?.trim()
              ) {
                seen.push(id);
                w.statusesAtFirstStream ??= ids.map(
                  (step) =>
                    document.querySelector(`[data-step="${step}"]`)?.getAttribute('data-status') ?? null,
                );
              }
            }
          }).observe(document.body, {
            subtree: true,
            childList: true,
            characterData: true,
            attributes: true,
          });
        },
        demo.steps.map((s) => s.id),
      );
      await page.getByRole('button', { name: 'Run pipeline' }).click();

      // Streaming: the first step shows text while it is still running and later steps wait.
      // (the text element exists only once tokens have arrived, and the card is still marked running)
      await page.waitForFunction(
        (id) => (window as unknown as { streamedSteps: string[] }).streamedSteps.includes(id),
        demo.steps[0]!.id,
        { timeout: 120_000 },
      );
      const seen = await page.evaluate(
        () => (window as unknown as { statusesAtFirstStream: (string | null)[] }).statusesAtFirstStream,
      );
      expect(seen[0]).toBe('running');
      expect(seen.slice(1).some((status) => status === 'pending')).toBe(true);

      await whileStackAlive(page.getByText('Pipeline complete').waitFor({ timeout: 6 * 60_000 }));
      // Every step streamed while it ran, one after another in dependency order.
      const streamed = await page.evaluate(
        () => (window as unknown as { streamedSteps: string[] }).streamedSteps,
      );
      expect(streamed).toEqual(executionOrder(demo.steps).map((s) => s.id));
      for (const step of demo.steps) {
        const card = page.locator(`[data-step="${step.id}"]`);
        expect(await card.getAttribute('data-status'), step.id).toBe('done');
        expect(
          ((await card.locator('[data-testid="step-text"]').textContent()) ?? '').trim().length,
          step.id,
        ).toBeGreaterThan(0);
        const nodes = await card.locator('[data-testid="node-ids"] code').allInnerTexts();
        expect(nodes.length, `${step.id} node ids`).toBeGreaterThanOrEqual(2);
        await card.locator('[data-verification="verified"]').last().waitFor({ timeout: 15_000 });
      }
      expect(await page.locator('[data-verification="failed"]').count()).toBe(0);
      // Cost comes from the gateway's ledger once the usage refresh after each step lands.
      await expect
        .poll(async () => page.locator('[data-testid="step-cost"]').allInnerTexts(), { timeout: 15_000 })
        .not.toContain('pending');
      await page.screenshot({ path: join(RESULTS, `demo-${demo.id}.png`), fullPage: true });
    });
  }

  it('shows usage from the gateway ledger with a cost for every step', async () => {
    await page.getByRole('link', { name: 'Usage' }).click();
    await page.locator('[data-testid="usage-row"]').first().waitFor();
    const rows = await page.locator('[data-testid="usage-row"]').allInnerTexts();
    expect(rows.length).toBeGreaterThanOrEqual(DEMOS.reduce((n, d) => n + d.steps.length, 0));
    await expect
      .poll(() => page.locator('[data-testid="usage-row"]', { hasText: 'not in ledger yet' }).count())
      .toBe(0);
    const spent = (await page.locator('[data-testid="spent"]').textContent()) ?? '';
    expect(Number(spent.replace(/[^0-9.]/g, ''))).toBeGreaterThan(0);
    await page.locator('[data-testid="spend-chart"]').waitFor();
    await page.screenshot({ path: join(RESULTS, 'usage.png'), fullPage: true });
  });

  it('lists every receipt as verified in the audit view, and a tampered copy fails', async () => {
    await page.getByRole('link', { name: 'Audit' }).click();
    const rows = page.locator('[data-record]');
    await rows.first().waitFor();
    const total = await rows.count();
    expect(total).toBeGreaterThanOrEqual(DEMOS.reduce((n, d) => n + d.steps.length, 0));
    await expect.poll(() => page.locator('[data-record] [data-verification="verified"]').count()).toBe(total);

    // An untouched receipt pasted into the box verifies; the same receipt with one changed field fails.
    await rows.first().getByRole('button', { name: 'Receipt details' }).click();
    await rows.first().getByText('Raw receipt JSON').click();
    const original = (await rows.first().locator('[data-testid="receipt-json"]').textContent()) ?? '';
    await page.getByLabel('Receipt or cascadia block (JSON)').fill(original);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.locator('[data-testid="pasted-result"] [data-verification="verified"]').waitFor();

    await rows.first().getByRole('button', { name: 'Tamper with a copy' }).click();
    await page.locator('[data-testid="pasted-result"] [data-verification="failed"]').waitFor();
    expect(await page.locator('[data-testid="pasted-result"]').textContent()).toMatch(
      /signature does not match/,
    );
    await page.screenshot({ path: join(RESULTS, 'audit.png'), fullPage: true });
  });

  it('shows the gateway healthy and both mesh nodes on the status view', async () => {
    await page.getByRole('link', { name: 'Status' }).click();
    await expect.poll(() => page.locator('[data-testid="gateway-health"]').textContent()).toBe('Healthy');
    await expect
      .poll(() => page.locator('[data-testid="node-row"]').count(), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: join(RESULTS, 'status.png'), fullPage: true });
  });

  it('stops a running pipeline, then reruns a single step with its dependents', async () => {
    await page.goto(`${stack.urls.web}/demos/code-review`);
    await page.getByRole('button', { name: 'Run pipeline' }).click();
    const explain = page.locator('[data-step="explain"]');
    await page
      .locator('[data-step="explain"][data-status="running"] [data-testid="step-text"]')
      .filter({ hasText: /\S/ })
      .waitFor({ timeout: 120_000 });
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.getByText('Stopped. Rerun any step to continue from there.').waitFor();
    expect(await explain.getAttribute('data-status')).toBe('stopped');
    expect(await page.locator('[data-step="review"]').getAttribute('data-status')).toBe('skipped');

    // Rerun the first step: it and the step that reads it run; the independent "risks" step does not.
    await explain.getByRole('button', { name: 'Rerun step' }).click();
    await whileStackAlive(page.getByText('Pipeline complete').waitFor({ timeout: 4 * 60_000 }));
    expect(await explain.getAttribute('data-status')).toBe('done');
    expect(await page.locator('[data-step="review"]').getAttribute('data-status')).toBe('done');
    expect(await page.locator('[data-step="risks"]').getAttribute('data-status')).toBe('done');
    await page.locator('[data-step="review"] [data-verification="verified"]').waitFor({ timeout: 15_000 });
  });

  it('explains an exhausted budget (402 from the gateway) on the step', async () => {
    const set = await stack.gatewayCli(['budget', 'set', '--key', stack.virtualKeyId, '--usd', '0']);
    expect(set.code, set.stderr).toBe(0);
    await page.goto(`${stack.urls.web}/demos/research-brief`);
    await page.getByRole('button', { name: 'Run pipeline' }).click();
    const alert = page.locator('[data-step="plan"] [role="alert"]');
    await alert.waitFor({ timeout: 60_000 });
    expect(await alert.textContent()).toMatch(/budget is used up/);
    expect(await page.locator('[data-step="plan"]').getAttribute('data-status')).toBe('error');
    await page.screenshot({ path: join(RESULTS, 'budget-exhausted.png'), fullPage: true });
  });

  it('never sent the virtual key to the browser', async () => {
    expect(apiBodies.length).toBeGreaterThan(10);
    expect(apiBodies.filter((entry) => entry.body.includes(stack.virtualKey)).map((e) => e.url)).toEqual([]);
    const html = await page.content();
    expect(html).not.toContain(stack.virtualKey);
  });
});
