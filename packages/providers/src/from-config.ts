import { parseProvidersConfig } from './config.js';
import { readConfigFile } from './config-file.js';
import {
  type BuiltProviderOptions,
  createDefaultProviders,
  createProviderRegistry,
  createProvidersFromConfig,
  type ProviderRegistry,
} from './registry.js';

/**
 * The registry a gateway runs with: `cascadia` and `openai` from the environment, the providers
 * declared under `providers:` (replacing a default of the same name), and the `model_list` routes.
 * `config` is the parsed config file (other top-level keys are ignored); undefined means defaults only.
 */
export function createProviderRegistryFromConfig(
  config: unknown,
  options: BuiltProviderOptions & { source?: string } = {},
): ProviderRegistry {
  const env = options.env ?? process.env;
  const built = { env, fetch: options.fetch, timeoutMs: options.timeoutMs };
  const parsed =
    config === undefined || config === null
      ? { providers: [], routes: [] }
      : parseProvidersConfig(config, { env, source: options.source });
  return createProviderRegistry({
    providers: [...createDefaultProviders(built), ...createProvidersFromConfig(parsed.providers, built)],
    routes: parsed.routes,
    ...built,
  });
}

/** createProviderRegistryFromConfig over a YAML or JSON file. */
export async function loadProviderRegistry(
  path: string,
  options: BuiltProviderOptions = {},
): Promise<ProviderRegistry> {
  return createProviderRegistryFromConfig(await readConfigFile(path), { ...options, source: path });
}
