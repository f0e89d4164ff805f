/**
 * The main entry must run in browsers: nothing reachable from src/index.ts may import a Node
 * built-in. (The Node-only key file helpers live behind '@cascadia/receipts/node'.)
 */
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const srcDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
const builtins = new Set(builtinModules);

async function importGraph(entry: string): Promise<{ files: string[]; external: Map<string, string> }> {
  const files: string[] = [];
  const external = new Map<string, string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (files.includes(file)) continue;
    files.push(file);
    const source = await readFile(join(srcDir, file), 'utf8');
    for (const match of source.matchAll(
      /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g,
    )) {
      const specifier = (match[1] ?? match[2])!;
      if (specifier.startsWith('./')) queue.push(specifier.replace(/^\.\//, '').replace(/\.js$/, '.ts'));
      else external.set(specifier, file);
    }
  }
  return { files, external };
}

describe('browser safety of the main entry', () => {
  it('imports no Node built-in, directly or indirectly', async () => {
    const { files, external } = await importGraph('index.ts');
    expect(files).toContain('verify.ts');
    expect(files).not.toContain('node.ts');
    const nodeImports = [...external].filter(
      ([specifier]) => specifier.startsWith('node:') || builtins.has(specifier),
    );
    expect(nodeImports).toEqual([]);
    expect([...external.keys()].sort()).toEqual(['@noble/ed25519', '@noble/hashes/sha2.js', 'zod']);
  });

  it('the node entry is where the file system lives', async () => {
    const { external } = await importGraph('node.ts');
    expect([...external.keys()]).toContain('node:fs/promises');
  });
});
