export type {
  CallOptions,
  ClientOptions,
  FetchFunction,
  OpenAICompatibleClient,
} from './client.js';
export { createClient } from './client.js';
export type { OpenAICompatibleErrorInit, OpenAICompatibleErrorKind } from './errors.js';
export { isAbortError, isOpenAIErrorBody, OpenAICompatibleError, openAIErrorBody } from './errors.js';
export type { SSEEvent } from './sse.js';
export { formatSSE, parseSSE, SSE_DONE, SSEDecoder, tapSSE } from './sse.js';
export type * from './types.js';
