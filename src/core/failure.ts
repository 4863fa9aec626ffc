import type { OpenAIErrorBody } from "./errors";

/**
 * What went wrong with one upstream attempt, classified once (DESIGN §6). The breaker, the
 * fallback chain and the error rendering all read this value; none re-inspects the response.
 */
export type FailureKind =
  | "server_error" // 5xx and 408
  | "connection"
  | "timeout"
  | "malformed" // bad JSON, bad SSE, an SSE error event or a cut before commit
  | "rate_limited" // 429
  | "client_error" // 400, 404, 413, 422 and other 4xx: the caller's request
  | "auth" // 401, 403: the gateway's key
  | "client_abort";

export interface UpstreamFailure {
  kind: FailureKind;
  status: number | null;
  /** Safe to show a client: never contains key material. */
  message: string;
  retryAfterMs: number | null;
  /** The upstream's OpenAI-shaped error, relayed to the caller for its own bad request. */
  body: OpenAIErrorBody | null;
}

export function failure(kind: FailureKind, message: string, extra: Partial<UpstreamFailure> = {}): UpstreamFailure {
  return { kind, message, status: null, retryAfterMs: null, body: null, ...extra };
}

export type StatusClass = "success" | "server_error" | "rate_limited" | "client_error" | "auth";

export function classifyStatus(status: number): StatusClass {
  if (status >= 200 && status < 300) return "success";
  if (status === 429) return "rate_limited";
  if (status === 401 || status === 403) return "auth";
  if (status === 408 || status >= 500 || status < 200 || (status >= 300 && status < 400)) return "server_error";
  return "client_error";
}

/** Failures that a retry of the same model may cure. */
export function isTransient(f: UpstreamFailure): boolean {
  return f.kind === "server_error" || f.kind === "connection" || f.kind === "timeout" || f.kind === "malformed";
}
