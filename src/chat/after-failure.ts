import { coolingDelayMs } from "../core/cooling";
import type { UpstreamFailure } from "../core/failure";
import { isTransient } from "../core/failure";

/** What the chain does after an attempt failed before commit (DESIGN §2.2, §6). */
export type NextMove =
  | { kind: "client_gone" }
  /** The caller's own request was refused: relayed for the requested model, else the step ends. */
  | { kind: "rejected" }
  /** The key was refused: set it aside and try the next one. */
  | { kind: "rotate_key"; status: 401 | 403 }
  | { kind: "retry"; delayMs: number }
  /** A 429 without Retry-After: the breaker's cool-down says when to come back. */
  | { kind: "learn_cooling" }
  | { kind: "next_step"; retryAt: number | null };

export interface FailureContext {
  failure: UpstreamFailure;
  /** The attempt was a half-open probe: never retried. */
  probe: boolean;
  /** Retries of this step so far. */
  retries: number;
  now: number;
  deadlineAt: number;
  retry: { maxRetries: number; baseDelayMs: number; maxDelayMs: number };
  /** A number in [0, 1) for full-jitter backoff, passed in so the decision stays pure. */
  random: number;
}

export function afterFailure(c: FailureContext): NextMove {
  const f = c.failure;
  const retryAt = f.retryAfterMs !== null ? c.now + coolingDelayMs(f.retryAfterMs, 0, c.retry.maxDelayMs) : null;
  switch (f.kind) {
    case "client_abort":
      return { kind: "client_gone" };
    case "client_error":
      return { kind: "rejected" };
    case "auth":
      return { kind: "rotate_key", status: f.status === 403 ? 403 : 401 };
    case "rate_limited":
      return retryAt !== null ? { kind: "next_step", retryAt } : { kind: "learn_cooling" };
  }
  // A 503 with Retry-After says when this step could serve again.
  if (!isTransient(f) || c.probe || c.retries >= c.retry.maxRetries) return { kind: "next_step", retryAt };
  const delayMs = c.random * Math.min(c.retry.maxDelayMs, c.retry.baseDelayMs * 2 ** c.retries);
  if (delayMs >= c.deadlineAt - c.now) return { kind: "next_step", retryAt };
  return { kind: "retry", delayMs };
}
