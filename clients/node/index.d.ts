/** A trace as agents post it (our fields, or the seed's: tool_args/tool_results, latency, flags as an object). */
export interface Trace {
  external_id?: string;
  conversation_id: string;
  user_message: string;
  context?: Record<string, unknown>;
  selected_tools?: string[];
  tool_calls?: ToolCall[];
  tool_args?: unknown[] | Record<string, unknown>;
  tool_results?: unknown[] | Record<string, unknown>;
  final_response?: string;
  latency_ms?: number | null;
  latency?: number | null;
  flags?: string[] | Record<string, boolean | string | number | null>;
  policy_id?: string;
  rollout_id?: number | null;
  arm?: "" | "baseline" | "candidate" | "shadow";
  task_category?: "communication" | "scheduling" | "ops" | "research" | "memory" | "other";
  occurred_at?: string;
  /** The agent's own reward in [0, 1], e.g. 1 for a thumbs up. */
  reward?: number | null;
  reward_source?: string;
  /** Any other field is kept in the trace's `extra` and named back in `extra_fields`. */
  [field: string]: unknown;
}

export interface ToolCall {
  name: string;
  args?: unknown;
  result?: unknown;
  error?: string | null;
  latency_ms?: number | null;
  [field: string]: unknown;
}

export interface TraceResult {
  index: number;
  external_id: string | null;
  status: "accepted" | "duplicate" | "rejected";
  id: number | null;
  errors?: Record<string, string[]>;
  extra_fields?: string[];
  secrets_redacted?: number;
}

export interface Policy {
  model: string;
  policy_id: number | string;
  rollout_id: number | null;
  arm: string;
  shadow_model?: string;
  shadow_policy_id?: number | string;
}

export interface ZekeClientOptions {
  /** The agent's bearer token (zk_...). */
  token: string;
  /** Traces per POST; add() posts when this many are buffered. Default 500. */
  batchSize?: number;
  /** Retries on network errors, timeouts, 429 and 5xx (same external_ids each time). Default 5. */
  maxRetries?: number;
  /** First backoff in ms, doubled each retry (Retry-After wins when sent). Default 500. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Per-request timeout in ms. Default 10000. */
  timeoutMs?: number;
  /** Flush what is buffered when the process is about to exit (beforeExit). Default true. */
  flushOnExit?: boolean;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

export class ZekeError extends Error {
  status: number | null;
  body: unknown;
}

export class ZekeClient {
  constructor(baseUrl: string, options: ZekeClientOptions);
  /** Buffer one trace; returns its external_id. */
  add(trace: Trace): string;
  /** Post everything buffered; the results of every trace posted since the last flush(). */
  flush(): Promise<TraceResult[]>;
  /** Flush, then stop listening for process exit. */
  close(): Promise<TraceResult[]>;
  /** Post one batch now. */
  post(traces: Trace[]): Promise<TraceResult[]>;
  /** The policy to use, or null when none is active for the modality. */
  getPolicy(options?: { modality?: "chat" | "voice" | "sms"; conversationId?: string }): Promise<Policy | null>;
}
