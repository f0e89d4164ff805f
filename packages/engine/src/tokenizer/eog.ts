import { TokenType } from './spec.js';

/** End-of-turn tokens of well-known chat formats; like llama.cpp, they end generation when present. */
const END_OF_TURN_TEXTS = new Set([
  '<|eot_id|>',
  '<|im_end|>',
  '<|end|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '<|eom_id|>',
  '<EOT>',
  '<|end_of_text|>',
  '<|return|>',
]);

export function endOfGenerationIds(
  tokens: readonly string[],
  tokenTypes: readonly number[],
  declared: readonly (number | undefined)[],
): number[] {
  const ids = new Set<number>();
  for (const id of declared) if (id !== undefined && id >= 0 && id < tokens.length) ids.add(id);
  tokens.forEach((t, id) => {
    const type = tokenTypes[id];
    if (END_OF_TURN_TEXTS.has(t) && (type === TokenType.Control || type === TokenType.UserDefined))
      ids.add(id);
  });
  return [...ids].sort((a, b) => a - b);
}
