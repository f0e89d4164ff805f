/**
 * The shapes exchanged between the browser and this app's `/api/*` routes. Errors use the
 * OpenAI error body so one parser handles errors from every layer.
 */
import { z } from 'zod';
import { INPUT_LIMITS } from './demos';

export const ChatRequestSchema = z
  .object({
    demoId: z.string().min(1).max(64),
    stepId: z.string().min(1).max(64),
    input: z.string().min(1).max(INPUT_LIMITS.inputChars),
    priorOutputs: z.record(z.string().max(64), z.string().max(INPUT_LIMITS.priorOutputChars)).default({}),
    attempt: z.union([z.literal(1), z.literal(2)]).default(1),
    /** A rerun samples with some temperature so the visitor can get a different answer. */
    variation: z.boolean().default(false),
  })
  .strict();
export type ChatRequest = z.input<typeof ChatRequestSchema>;

export interface ApiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** The `cascadia` block the mesh adds to the final chunk of a stream. */
export interface CascadiaBlock {
  node_ids: string[];
  receipt: unknown;
}

export interface UsageRow {
  request_id: string;
  created_at: string;
  model: string;
  provider: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  latency_ms: number | null;
  ttft_ms: number | null;
  status: string;
  node_ids: string[] | null;
  receipt_digest: string | null;
}

export interface Budget {
  max_usd: number | null;
  spent_usd: number;
  reserved_usd: number;
  remaining_usd: number | null;
  period: string | null;
  resets_at: string | null;
}

export interface UsageResponse {
  rows: UsageRow[];
  budget: Budget | null;
  key_alias: string | null;
}

export interface PublishedKeys {
  coordinator: { id: string; public_key: string };
  nodes: { node_id: string; public_key: string }[];
}

/** What `/api/gateway` reports; each part is null with a message in `problems` when unreachable. */
export interface GatewayStatus {
  model: string;
  gateway: { healthy: boolean; health: unknown };
  models: string[];
  budget: Budget | null;
  keys: PublishedKeys | null;
  fleet: unknown;
  problems: { part: 'gateway' | 'models' | 'budget' | 'keys' | 'fleet'; message: string }[];
}
