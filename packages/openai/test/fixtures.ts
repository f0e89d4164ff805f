import type { CascadiaBlock } from '../src/index.js';

export const CASCADIA: CascadiaBlock = {
  node_ids: ['node-aaaaaaaaaaaa', 'node-bbbbbbbbbbbb'],
  receipt: {
    v: 1,
    kind: 'mesh',
    request_id: 'req-1',
    node_ids: ['node-aaaaaaaaaaaa', 'node-bbbbbbbbbbbb'],
    stages: [{ statement: { layer_start: 0, layer_end: 15 }, signature: 'c2ln' }],
    signature: 'c2lnbmF0dXJl',
  },
};

export const COMPLETION = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'smollm2-135m-instruct',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'Hello!', reasoning_content: 'kept' },
      finish_reason: 'stop',
      provider_extra: { nested: [1, 2, { deep: true }] },
    },
  ],
  usage: {
    prompt_tokens: 5,
    completion_tokens: 2,
    total_tokens: 7,
    prompt_tokens_details: { cached_tokens: 0 },
  },
  service_tier: 'mesh',
  cascadia: CASCADIA,
};

export function chunk(content: string | null, extra: Record<string, unknown> = {}) {
  return {
    id: 'chatcmpl-2',
    object: 'chat.completion.chunk',
    created: 1_700_000_001,
    model: 'smollm2-135m-instruct',
    choices:
      content === null ? [] : [{ index: 0, delta: { content }, finish_reason: null, x_chunk_field: 'kept' }],
    ...extra,
  };
}

export const FINAL_CHUNK = chunk(null, {
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  cascadia: CASCADIA,
});
