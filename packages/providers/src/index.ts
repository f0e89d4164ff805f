export type { CascadiaProviderSettings } from './cascadia.js';
export { CASCADIA_DEFAULT_BASE_URL, createCascadiaProvider } from './cascadia.js';
export type { ConfigOptions, ProviderConfig, ProvidersConfig, RouteConfig, SecretRef } from './config.js';
export { parseProvidersConfig, parseRoutes, resolveSecret } from './config.js';
export { loadProvidersConfigFile, loadRoutesFile, readConfigFile } from './config-file.js';
export type { UpstreamFailure } from './errors.js';
export {
  InvalidModelStringError,
  ProviderConfigError,
  ProviderError,
  UnknownModelError,
  UpstreamUnavailableError,
} from './errors.js';
export { createProviderRegistryFromConfig, loadProviderRegistry } from './from-config.js';
export type { ModelSeparator, ParsedModelString } from './model-string.js';
export { formatModelString, parseModelString } from './model-string.js';
export type { OpenAIProviderSettings } from './openai.js';
export { createOpenAIProvider, OPENAI_DEFAULT_BASE_URL } from './openai.js';
export type {
  FetchFunction,
  OpenAICompatibleProviderSettings,
  RequestTransformContext,
  ResponseTransformContext,
} from './openai-compatible.js';
export { createOpenAICompatibleProvider, replaceModel } from './openai-compatible.js';
export type { Env, PreparedUpstreamRequest, Provider, ProviderCallInit } from './provider.js';
export type {
  BuiltProviderOptions,
  ProviderRegistry,
  ProviderRegistryOptions,
  ResolvedModel,
  RouteInfo,
} from './registry.js';
export { createDefaultProviders, createProviderRegistry, createProvidersFromConfig } from './registry.js';
