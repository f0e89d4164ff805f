/**
 * Validation of the OpenAI request bodies the coordinator accepts. Unknown fields are allowed
 * (clients send many); fields that would change semantics we do not implement are refused.
 */
import { z } from 'zod';

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const content = z
  .union([z.string(), z.array(z.union([textPart, z.object({ type: z.string() }).loose()]))])
  .nullable();

const message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: content.optional(),
    name: z.string().optional(),
  })
  .loose();

const stop = z
  .union([z.string(), z.array(z.string()).max(4)])
  .nullable()
  .optional();

const sampling = {
  model: z.string().min(1),
  max_tokens: z.number().int().min(1).nullable().optional(),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  top_k: z.number().int().min(0).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  stop,
  n: z.literal(1, { message: 'only n=1 is supported' }).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
  user: z.string().optional(),
};

export const ChatCompletionBody = z.object({ ...sampling, messages: z.array(message).min(1) }).loose();
export type ChatCompletionBody = z.infer<typeof ChatCompletionBody>;

export const CompletionBody = z
  .object({ ...sampling, prompt: z.union([z.string(), z.array(z.string()).length(1)]) })
  .loose();
export type CompletionBody = z.infer<typeof CompletionBody>;

export type SamplingFields = Pick<
  ChatCompletionBody,
  | 'model'
  | 'max_tokens'
  | 'max_completion_tokens'
  | 'temperature'
  | 'top_p'
  | 'top_k'
  | 'seed'
  | 'frequency_penalty'
  | 'presence_penalty'
  | 'stop'
  | 'stream'
  | 'stream_options'
>;

/** The text of a message's content (text parts joined); non-text parts are refused. */
export function messageText(c: z.infer<typeof content> | undefined): string {
  if (c == null) return '';
  if (typeof c === 'string') return c;
  return c
    .map((part) => {
      if (part.type !== 'text' || typeof part.text !== 'string') {
        throw new Error(`content part type ${part.type} is not supported by this model`);
      }
      return part.text;
    })
    .join('');
}

/** First issue of a zod error, as the OpenAI `param` and message. */
export function describeIssue(error: z.ZodError): { param: string | null; message: string } {
  const issue = error.issues[0];
  if (!issue) return { param: null, message: 'invalid request body' };
  const param = issue.path.length ? issue.path.map(String).join('.') : null;
  return { param, message: param ? `${param}: ${issue.message}` : issue.message };
}
