import type { SkipReason } from "../core/circuit";
import { GatewayError } from "../core/errors";
import type { UpstreamFailure } from "../core/failure";
import { retryAfterHeaders } from "../core/retry-after";

/** What happened to the requested model's step, which decides the final status (DESIGN §6). */
export type RequestedFate =
  | { kind: "skipped"; reason: SkipReason }
  | { kind: "failed"; failure: UpstreamFailure }
  | { kind: "no_key" }
  /** The provider's keys are set aside after a 402 (DESIGN §12). */
  | { kind: "account_aside" }
  | { kind: "deadline" };

export interface Exhaustion {
  fate: RequestedFate;
  /** The soonest time any step of the chain could serve again (epoch ms), if known. */
  soonestRetryAt: number | null;
  /** The gateway already retried or fell back: tell SDKs not to multiply retries. */
  retried: boolean;
}

const RATE_LIMITED = new GatewayError(
  429,
  "rate_limit_error",
  "rate_limited",
  "The model is rate limited upstream; retry later.",
);
const CIRCUIT_OPEN = new GatewayError(
  503,
  "upstream_error",
  "circuit_open",
  "The model is temporarily unavailable (circuit open); retry later.",
);
const NO_KEY = new GatewayError(
  502,
  "upstream_error",
  "upstream_auth_error",
  "The gateway could not authenticate with its upstream.",
);
const ACCOUNT = new GatewayError(
  502,
  "upstream_error",
  "upstream_account_error",
  "The gateway's upstream account cannot serve requests right now; retry later.",
);

/** Failures about the request itself: relayed with the upstream's own status and message. */
const RELAYED: ReadonlySet<UpstreamFailure["kind"]> = new Set(["client_error", "context_overflow", "rejected"]);

function fromFailure(f: UpstreamFailure): GatewayError {
  if (RELAYED.has(f.kind)) return relayedClientError(f);
  switch (f.kind) {
    case "rate_limited":
      return RATE_LIMITED;
    case "auth":
      return NO_KEY;
    case "account":
      return ACCOUNT;
    case "timeout":
      return new GatewayError(504, "upstream_error", "upstream_timeout", f.message);
    default:
      return new GatewayError(502, "upstream_error", "upstream_error", f.message);
  }
}

function base(fate: RequestedFate): GatewayError {
  switch (fate.kind) {
    case "skipped":
      return fate.reason === "cooling" ? RATE_LIMITED : CIRCUIT_OPEN;
    case "no_key":
      return NO_KEY;
    case "account_aside":
      return ACCOUNT;
    case "deadline":
      return new GatewayError(504, "upstream_error", "upstream_timeout", "The request ran out of time before an answer started.");
    case "failed":
      return fromFailure(fate.failure);
  }
}

export function exhaustedError(e: Exhaustion, now: number): GatewayError {
  // A relayed answer about the request itself is no invitation to send it again later.
  const relayed = e.fate.kind === "failed" && RELAYED.has(e.fate.failure.kind);
  const headers: Record<string, string> = e.soonestRetryAt !== null && !relayed ? retryAfterHeaders(e.soonestRetryAt - now) : {};
  if (e.retried) headers["x-should-retry"] = "false";
  return base(e.fate).withHeaders(headers);
}

/** The requested model's own 4xx, relayed with its status and (redacted) message. */
export function relayedClientError(f: UpstreamFailure): GatewayError {
  const body = f.body?.error;
  return new GatewayError(
    f.status ?? 400,
    body?.type ?? "invalid_request_error",
    body?.code ?? "upstream_rejected",
    f.message,
    body?.param ?? null,
  );
}
