// Approximate token counting, used only when the upstream reports no usage (stream cut short,
// client gone, or an upstream that ignores include_usage).

/** About 4 characters per token for English text with BPE tokenizers. */
export function approxTokens(text: string): number {
  return text.length === 0 ? 0 : Math.ceil(text.length / 4);
}

/** Text of a chat or completions request that becomes prompt tokens. */
export function promptText(body: Record<string, unknown>): string {
  const parts: string[] = [];
  const { messages, prompt } = body;
  if (Array.isArray(messages)) {
    for (const message of messages) {
      if (typeof message !== 'object' || message === null) continue;
      const content = (message as { content?: unknown }).content;
      if (typeof content === 'string') parts.push(content);
      else if (Array.isArray(content)) {
        for (const part of content) {
          const text = (part as { text?: unknown } | null)?.text;
          if (typeof text === 'string') parts.push(text);
        }
      }
    }
  } else if (typeof prompt === 'string') parts.push(prompt);
  else if (Array.isArray(prompt)) for (const p of prompt) if (typeof p === 'string') parts.push(p);
  return parts.join('\n');
}

/** Chat templates add a few tokens per message (role markers, separators). */
export function approxPromptTokens(body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  return approxTokens(promptText(body)) + 4 * messages;
}
