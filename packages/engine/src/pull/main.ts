#!/usr/bin/env node
/**
 * Standalone `pull` for scripts and CI: fills the model cache (progress on stderr) and prints the
 * GGUF path as the last line on stdout. Usage: node dist/pull/main.js [--cache DIR]
 */
import { PullError, pullDefaultModel } from './pull.js';

const args = process.argv.slice(2);
const at = args.indexOf('--cache');
const cacheDir = at >= 0 ? args[at + 1] : undefined;
if (at >= 0 && !cacheDir) {
  process.stderr.write('usage: main.js [--cache DIR]\n');
  process.exit(2);
}

try {
  const path = await pullDefaultModel(cacheDir ? { cacheDir } : {});
  process.stdout.write(`${path}\n`);
} catch (err) {
  process.stderr.write(`${err instanceof PullError ? err.message : String(err)}\n`);
  process.exit(1);
}
