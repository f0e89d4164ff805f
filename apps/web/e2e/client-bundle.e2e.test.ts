/**
 * The virtual key must never reach the browser: build the app with a canary key in the environment
 * and search every file the browser can receive (static chunks, prerendered HTML and RSC payloads).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const APP = join(import.meta.dirname, '..');
const DIST = '.next-keycheck';
const CANARY = `sk-canary-${process.pid}-must-not-leak-7f3a9c`;

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('client bundle', () => {
  // `next build` rewrites next-env.d.ts to point at its dist directory; put it back afterwards.
  const nextEnvPath = join(APP, 'next-env.d.ts');
  const nextEnv = existsSync(nextEnvPath) ? readFileSync(nextEnvPath, 'utf8') : undefined;
  afterAll(() => {
    rmSync(join(APP, DIST), { recursive: true, force: true });
    if (nextEnv !== undefined) writeFileSync(nextEnvPath, nextEnv);
  });

  it('built with the key in the environment, contains it in no browser-facing file', () => {
    const build = spawnSync(process.execPath, [join(APP, 'node_modules/next/dist/bin/next'), 'build'], {
      cwd: APP,
      env: { ...process.env, NEXT_DIST_DIR: DIST, GATEWAY_VIRTUAL_KEY: CANARY, NEXT_TELEMETRY_DISABLED: '1' },
      encoding: 'utf8',
      timeout: 5 * 60_000,
    });
    expect(build.status, `next build failed:\n${build.stdout}\n${build.stderr}`).toBe(0);
    expect(`${build.stdout}${build.stderr}`).not.toContain(CANARY);

    const staticFiles = filesUnder(join(APP, DIST, 'static'));
    const pages = filesUnder(join(APP, DIST, 'server/app')).filter((f) => /\.(html|rsc|body|meta)$/.test(f));
    expect(staticFiles.some((f) => f.endsWith('.js'))).toBe(true);
    expect(pages.some((f) => f.endsWith('.html'))).toBe(true);
    const leaking = [...staticFiles, ...pages].filter((file) => readFileSync(file).includes(CANARY));
    expect(leaking).toEqual([]);

    // The server bundle reads the key from the environment at run time, never from a build-time copy.
    const serverFiles = filesUnder(join(APP, DIST, 'server')).filter((f) => f.endsWith('.js'));
    expect(serverFiles.filter((file) => readFileSync(file).includes(CANARY))).toEqual([]);
  });
});
