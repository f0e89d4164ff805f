import { InvalidModelStringError } from './errors.js';

export type ModelSeparator = ':' | '/';

export interface ParsedModelString {
  provider: string;
  model: string;
  separator: ModelSeparator;
}

/** Provider names: a letter or digit, then letters, digits, '.', '_' or '-'. */
const PROVIDER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Splits `provider:model` (any-llm / Otari) or `provider/model` (LiteLLM) at the FIRST ':' or '/',
 * whichever comes first. The rest is the model id, kept verbatim: `cascadia:org/model` is provider
 * `cascadia`, model `org/model`; `openai/gpt:4` is provider `openai`, model `gpt:4`.
 * Throws InvalidModelStringError when there is no separator or either side is empty.
 */
export function parseModelString(value: string): ParsedModelString {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidModelStringError(String(value), 'the model string is empty');
  }
  const index = value.search(/[:/]/);
  if (index === -1) {
    throw new InvalidModelStringError(value, "it has no ':' or '/' separating provider and model");
  }
  const provider = value.slice(0, index);
  const model = value.slice(index + 1);
  const separator = value[index] as ModelSeparator;
  if (provider.length === 0) throw new InvalidModelStringError(value, 'the provider is empty');
  if (model.length === 0) throw new InvalidModelStringError(value, 'the model is empty');
  if (!PROVIDER_NAME.test(provider)) {
    throw new InvalidModelStringError(value, `'${provider}' is not a valid provider name`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(model)) {
    throw new InvalidModelStringError(value, 'the model contains control characters');
  }
  return { provider, model, separator };
}

/** Formats a provider and model back into a model string (':' unless told otherwise). */
export function formatModelString(provider: string, model: string, separator: ModelSeparator = ':'): string {
  return `${provider}${separator}${model}`;
}
