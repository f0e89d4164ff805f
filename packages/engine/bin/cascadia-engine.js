#!/usr/bin/env node
// Installed before the package is built, so the command exists right after `pnpm install`;
// the CLI itself is the built dist/cli.js.
import '../dist/cli.js';
