import type { UpstreamFailure } from "./failure";

/** Token counts as the gateway keeps them: read from the upstream only through normalizeUsage. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
  prompt_tokens_details?: Record<string, number>;
  completion_tokens_details?: Record<string, number>;
}

/** A `chat.completion` as the upstream answered it; only the fields the gateway reads are typed. */
export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: Array<{ index: number; message: Record<string, unknown>; logprobs?: unknown; finish_reason: string | null }>;
  usage?: Usage | null;
  [field: string]: unknown;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: Array<{ index: number; delta: Record<string, unknown>; logprobs?: unknown; finish_reason: string | null }>;
  usage?: Usage | null;
  [field: string]: unknown;
}

/** Sees a streamed answer's chunks as they pass (the cache assembles answers this way). */
export interface StreamObserver {
  onChunk(chunk: ChatCompletionChunk): void;
}

/**
 * How a committed answer ended: known only once its last byte went out. `client_slow`: the
 * stream outlived `streamWallMs` while the gateway waited on the client (DESIGN §12), no failure.
 */
export interface AttemptEnd {
  outcome: "success" | "failure" | "client_abort" | "client_slow";
  failure: UpstreamFailure | null;
  usage: Usage | null;
  /** The whole answer of a non-streamed success (a streamed one is seen through the observer). */
  completion: ChatCompletion | null;
  /** False once anything odd passed (a dropped or odd event, an observer that threw). */
  cacheable: boolean;
  /** Events dropped because they were not JSON at all. */
  droppedEvents: number;
  /** Characters of completion text that passed (DESIGN §13: the estimate when no usage came). */
  completionChars: number;
}

export type UpstreamFetch = (request: Request) => Promise<Response>;
