/**
 * Wire types of the OpenAI chat-completions and legacy completions APIs as the gateway, the web app
 * and the coordinator exchange them. Every object type carries an index signature: servers add
 * fields (the `cascadia` block, provider extras) and every hop must keep them, so nothing here is
 * closed.
 */

/** A field bag for everything a server or client adds beyond the fields named in a type. */
export type Passthrough = { [field: string]: unknown };

/**
 * The mesh receipt as far as this package needs to know it. The full schema (and its verification)
 * lives in `@cascadia/receipts`; it is re-declared structurally here so this package has no runtime
 * dependency on it.
 */
export type CascadiaReceipt = Passthrough & { v: 1; kind: 'mesh' };

/**
 * The `cascadia` extension block: on a non-streamed mesh response it is a top-level field of the
 * `chat.completion` object; on a stream it rides on the final chunk, the one that carries `usage`.
 */
export interface CascadiaBlock extends Passthrough {
  node_ids: string[];
  receipt: CascadiaReceipt;
}

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool' | 'developer' | (string & {});

export interface ChatContentPart extends Passthrough {
  type: string;
  text?: string;
}

export interface ChatToolCall extends Passthrough {
  id: string;
  type: 'function' | (string & {});
  function: { name: string; arguments: string } & Passthrough;
}

/** A message of a request. `content` may be absent (an assistant turn that only calls tools). */
export interface ChatMessage extends Passthrough {
  role: ChatRole;
  content?: string | ChatContentPart[] | null;
  name?: string;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
}

/** The message of a response choice: `content` is always there, null when the model only called tools. */
export interface ChatCompletionMessage extends Passthrough {
  role: 'assistant' | (string & {});
  content: string | null;
  refusal?: string | null;
  tool_calls?: ChatToolCall[];
}

export interface ChatCompletionRequest extends Passthrough {
  model: string;
  messages: ChatMessage[];
  stream?: boolean | null;
  stream_options?: ({ include_usage?: boolean } & Passthrough) | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  seed?: number | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  user?: string;
}

export interface CompletionUsage extends Passthrough {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type FinishReason =
  | 'stop'
  | 'length'
  | 'tool_calls'
  | 'content_filter'
  | 'function_call'
  | (string & {});

export interface ChatCompletionChoice extends Passthrough {
  index: number;
  message: ChatCompletionMessage;
  finish_reason: FinishReason | null;
  logprobs?: unknown;
}

/** A non-streamed `chat.completion` response. */
export interface ChatCompletion extends Passthrough {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: ChatCompletionChoice[];
  usage?: CompletionUsage;
  system_fingerprint?: string | null;
  cascadia?: CascadiaBlock;
}

export interface ChatCompletionDelta extends Passthrough {
  role?: ChatRole;
  content?: string | null;
  tool_calls?: (Partial<ChatToolCall> & { index: number })[];
}

export interface ChatCompletionChunkChoice extends Passthrough {
  index: number;
  delta: ChatCompletionDelta;
  finish_reason: FinishReason | null;
  logprobs?: unknown;
}

/** One `chat.completion.chunk` of a stream; the last one carries `usage` (and `cascadia` on the mesh). */
export interface ChatCompletionChunk extends Passthrough {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: ChatCompletionChunkChoice[];
  usage?: CompletionUsage | null;
  system_fingerprint?: string | null;
  cascadia?: CascadiaBlock;
}

export interface CompletionRequest extends Passthrough {
  model: string;
  prompt: string | string[] | number[] | number[][];
  stream?: boolean | null;
  stream_options?: ({ include_usage?: boolean } & Passthrough) | null;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  seed?: number | null;
  echo?: boolean | null;
  suffix?: string | null;
  user?: string;
}

export interface CompletionChoice extends Passthrough {
  index: number;
  text: string;
  finish_reason: FinishReason | null;
  logprobs?: unknown;
}

/** A legacy `text_completion` response; streamed chunks have the same shape. */
export interface Completion extends Passthrough {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage?: CompletionUsage | null;
  system_fingerprint?: string | null;
  cascadia?: CascadiaBlock;
}

export type CompletionChunk = Completion;

export interface Model extends Passthrough {
  id: string;
  object: 'model';
  created?: number;
  owned_by?: string;
}

export interface ModelList extends Passthrough {
  object: 'list';
  data: Model[];
}

/** The error body every OpenAI-compatible server answers with. */
export interface OpenAIErrorBody extends Passthrough {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
  } & Passthrough;
}
