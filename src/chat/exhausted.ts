import type { SkipReason } from "../core/circuit";
import { GatewayError } from "../core/errors";
import type { UpstreamFailure } from "../core/failure";
import { retryAfterHeaders } from "../core/retry-after";

/** What happened to the requested model's step, which decides the final status (DESIGN §6). */
export type RequestedFate =
  | { kind: "skipped"; reason: SkipReason }
  | { kind: "failed"; failure: UpstreamFailure }
  | { kind: "no_key" }
  | { kind: "deadline" };

export interface Exhaustion {
  fate: RequestedFate;
  /** The soonest time any step of the chain could serve again (epoch ms), if known. */
  soonestRetryAt: number | null;
  /** The gateway already retried or fell back: tell SDKs not to multiply retries. */
  retried: boolean;
}

function base(fate: RequestedFate): GatewayError {
  switch (fate.kind) {
    case "skipped":
      if (fate.reason === "cooling") {
        return new GatewayError(429, "rate_limit_error", "rate_limited", "The model is rate limited upstream; retry later.");
      }
      return new GatewayError(
        503,
        "upstream_error",
        "circuit_open",
        "The model is temporarily unavailable (circuit open); retry later.",
      );
    case "no_key":
      return new GatewayError(
        502,
        "upstream_error",
        "upstream_auth_error",
        "The gateway could not authenticate with its upstream.",
      );
    case "deadline":
      return new GatewayError(504, "upstream_error", "upstream_timeout", "The request ran out of time before an answer started.");
    case "failed": {
      const f = fate.failure;
      if (f.kind === "rate_limited") {
        return new GatewayError(429, "rate_limit_error", "rate_limited", "The model is rate limited upstream; retry later.");
      }
      if (f.kind === "auth") {
        return new GatewayError(
          502,
          "upstream_error",
          "upstream_auth_error",
          "The gateway could not authenticate with its upstream.",
        );
      }
      if (f.kind === "timeout") return new GatewayError(504, "upstream_error", "upstream_timeout", f.message);
      return new GatewayError(502, "upstream_error", "upstream_error", f.message);
    }
  }
}

export function exhaustedError(e: Exhaustion, now: number): GatewayError {
  const headers: Record<string, string> = e.soonestRetryAt !== null ? retryAfterHeaders(e.soonestRetryAt - now) : {};
  if (e.retried) headers["x-should-retry"] = "false";
  return base(e.fate).withHeaders(headers);
}

/** The requested model's own 4xx, relayed with its status and message. */
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
