import { Template } from '@huggingface/jinja';
import type { Tokenizer } from './tokenizer.js';

/** `content` may be OpenAI-style parts; their text parts are joined. */
export interface ChatMessage {
  role: string;
  content: string | readonly { type: string; text?: string }[] | null;
}

function contentText(content: ChatMessage['content']): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .filter((p) => p.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join('');
}

export class ChatTemplateError extends Error {
  readonly code = 'chat_template_error';
  constructor(message: string) {
    super(message);
    this.name = 'ChatTemplateError';
  }
}

/** ChatML, used when a model ships no template of its own. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const compiled = new Map<string, Template>();

function compile(source: string): Template {
  let t = compiled.get(source);
  if (!t) {
    try {
      t = new Template(source);
    } catch (err) {
      throw new ChatTemplateError(`the model's chat template does not parse: ${(err as Error).message}`);
    }
    compiled.set(source, t);
  }
  return t;
}

export function renderChatTemplate(
  tokenizer: Tokenizer,
  messages: readonly ChatMessage[],
  addGenerationPrompt: boolean,
): string {
  const spec = tokenizer.spec;
  const template = compile(spec.chatTemplate ?? CHATML_TEMPLATE);
  const tokenText = (id: number | undefined) => (id === undefined ? '' : (spec.tokens[id] ?? ''));
  try {
    return template.render({
      messages: messages.map((m) => ({ role: m.role, content: contentText(m.content) })),
      add_generation_prompt: addGenerationPrompt,
      bos_token: tokenText(spec.bosTokenId),
      eos_token: tokenText(spec.eosTokenId),
      unk_token: tokenText(spec.unkTokenId),
      pad_token: tokenText(spec.padTokenId),
    });
  } catch (err) {
    throw new ChatTemplateError(`the chat template failed on these messages: ${(err as Error).message}`);
  }
}
