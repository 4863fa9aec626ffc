import type { Outcome } from "./circuit";
import type { OpenAIErrorBody } from "./errors";

/**
 * What went wrong with one upstream attempt, classified once (DESIGN §6, §12). The breaker, the
 * fallback chain and the error rendering all read this value; none re-inspects the response.
 */
export type FailureKind =
  | "server_error" // 5xx, 408, 425: transient
  | "connection"
  | "timeout" // no first token within requestMs (or the deadline)
  | "malformed" // bad JSON, bad SSE, an SSE error event or a cut before commit
  | "rate_limited" // 429: the model cools
  | "client_error" // 400, 404, 413, 422: the caller's request
  | "context_overflow" // a 400 saying the request is over the model's context length
  | "auth" // 401, 403: the gateway's key
  | "account" // 402: the gateway's account (out of balance)
  | "rejected" // any other 4xx (409, 451, …): refused for this request
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

/** What an upstream status (with its error, when it sent one) says: DESIGN §12's table, in one place. */
export type StatusClass =
  | "success"
  | Extract<FailureKind, "server_error" | "rate_limited" | "client_error" | "context_overflow" | "auth" | "account" | "rejected">;

const CLIENT_REQUEST = new Set([400, 404, 413, 422]);

/** OpenAI's code, and the wordings providers use when a prompt is over the context length. */
const OVERFLOW_CODE = "context_length_exceeded";
const OVERFLOW_MESSAGE =
  /maximum context length|context[ _-]?(length|window)[ _-]?(is |was |has been )?exceeded|exceeds? (the )?(model'?s? )?(maximum )?context (length|window)/i;

function saysContextOverflow(error: OpenAIErrorBody["error"]): boolean {
  return error.code === OVERFLOW_CODE || OVERFLOW_MESSAGE.test(error.message);
}

export function classifyStatus(status: number, error: OpenAIErrorBody["error"] | null = null): StatusClass {
  if (status >= 200 && status < 300) return "success";
  if (status === 429) return "rate_limited";
  if (status === 401 || status === 403) return "auth";
  if (status === 402) return "account";
  if (status === 400 && error !== null && saysContextOverflow(error)) return "context_overflow";
  if (CLIENT_REQUEST.has(status)) return "client_error";
  if (status === 408 || status === 425 || status < 400 || status >= 500) return "server_error";
  return "rejected";
}

/** The breaker column of DESIGN §12: only transient failures count against a model. */
const BREAKER: Record<FailureKind, Outcome["kind"]> = {
  server_error: "failure",
  connection: "failure",
  timeout: "failure",
  malformed: "failure",
  rate_limited: "rate_limited",
  client_error: "ignored",
  context_overflow: "ignored",
  auth: "ignored",
  account: "ignored",
  rejected: "ignored",
  client_abort: "client_abort",
};

/** What a failure tells the model's breaker. */
export function outcomeOf(f: UpstreamFailure): Outcome {
  switch (BREAKER[f.kind]) {
    case "failure":
      return { kind: "failure", reason: f.kind };
    case "rate_limited":
      return { kind: "rate_limited", retryAfterMs: f.retryAfterMs };
    case "client_abort":
      return { kind: "client_abort" };
    default:
      return { kind: "ignored" };
  }
}
