import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYAML } from 'yaml';
import {
  type ConfigOptions,
  type ProvidersConfig,
  parseProvidersConfig,
  type RouteConfig,
} from './config.js';
import { ProviderConfigError } from './errors.js';

/** Reads a YAML or JSON file (by extension; anything else is read as YAML, a superset of JSON). */
export async function readConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new ProviderConfigError(
      `Cannot read config file ${path}${typeof code === 'string' ? ` (${code})` : ''}`,
      {
        cause: error,
      },
    );
  }
  try {
    return extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYAML(text);
  } catch (error) {
    // Parser messages quote the offending source line, which may hold a literal key: keep only the position.
    const position = describePosition(error);
    throw new ProviderConfigError(
      `Config file ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}${position}`,
    );
  }
}

function describePosition(error: unknown): string {
  const linePos = (error as { linePos?: { line: number; col: number }[] }).linePos;
  const first = Array.isArray(linePos) ? linePos[0] : undefined;
  if (first) return ` (line ${first.line}, column ${first.col})`;
  return '';
}

/** Loads `providers` and `model_list` / `routes` from a config file (see parseProvidersConfig). */
export async function loadProvidersConfigFile(
  path: string,
  options: ConfigOptions = {},
): Promise<ProvidersConfig> {
  return parseProvidersConfig(await readConfigFile(path), { ...options, source: options.source ?? path });
}

/** Loads only the routes (`model_list`, LiteLLM style, or `routes`) of a config file. */
export async function loadRoutesFile(path: string, options: ConfigOptions = {}): Promise<RouteConfig[]> {
  return (await loadProvidersConfigFile(path, options)).routes;
}
