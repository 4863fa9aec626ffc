import { coolingDelayMs } from "../core/cooling";
import type { UpstreamFailure } from "../core/failure";

/** What the chain does after an attempt failed before commit (DESIGN §2.2, §6, §12, §15b). */
export type NextMove =
  | { kind: "client_gone" }
  /** The caller's own request was refused: relayed for the requested model, else the step ends. */
  | { kind: "rejected" }
  /** The key was refused: set it aside and try the next one. */
  | { kind: "rotate_key"; status: 401 | 403 }
  /** The account cannot pay (402): every key of the provider is set aside, and the step ends. */
  | { kind: "account_refused" }
  /** A fast transient failure: try the same model again after a full-jitter backoff. */
  | { kind: "retry"; delayMs: number }
  /** A short Retry-After on the requested model: wait it out, then try the model once more. */
  | { kind: "wait_retry"; delayMs: number }
  /** A 429 without Retry-After: the breaker's cool-down says when to come back. */
  | { kind: "learn_cooling" }
  | { kind: "next_step"; retryAt: number | null };

export interface FailureContext {
  failure: UpstreamFailure;
  /** The attempt was a half-open probe: never retried. */
  probe: boolean;
  /** The step is the requested model's (only its short Retry-After is waited for). */
  requested: boolean;
  /** Backoff retries of this step so far. */
  retries: number;
  /** This step already waited out a Retry-After once. */
  waitedOnRetryAfter: boolean;
  /** Upstream attempts the request may still make, all steps together. */
  attemptsLeft: number;
  now: number;
  deadlineAt: number;
  retry: { maxRetries: number; baseDelayMs: number; maxDelayMs: number; waitOnRetryAfterMs: number };
  /** A number in [0, 1) for full-jitter backoff, passed in so the decision stays pure. */
  random: number;
}

export function afterFailure(c: FailureContext): NextMove {
  const f = c.failure;
  // A 429 or 503 with Retry-After says when this step could serve again.
  const retryAt = f.retryAfterMs !== null ? c.now + coolingDelayMs(f.retryAfterMs, 0, c.retry.maxDelayMs) : null;
  switch (f.kind) {
    case "client_abort":
      return { kind: "client_gone" };
    case "client_error":
      return { kind: "rejected" };
    case "auth":
      return { kind: "rotate_key", status: f.status === 403 ? 403 : 401 };
    case "account":
      return { kind: "account_refused" };
    case "rate_limited":
      return afterRateLimit(c, retryAt);
    // About this request, not the model: another model may serve it, this one will not.
    case "context_overflow":
    case "rejected":
    // No retry into a hang: a model that gave no first token within requestMs gets no second wait.
    case "timeout":
      return { kind: "next_step", retryAt };
    case "server_error":
    case "connection":
    case "malformed":
      return afterTransient(c, retryAt);
  }
}

const mayTryAgain = (c: FailureContext) => !c.probe && c.attemptsLeft > 0;

function afterRateLimit(c: FailureContext, retryAt: number | null): NextMove {
  const wait = c.failure.retryAfterMs;
  // waitOnRetryAfterMs 0 turns the wait off, even for a Retry-After of 0.
  const short =
    wait !== null && wait <= c.retry.waitOnRetryAfterMs && c.retry.waitOnRetryAfterMs > 0 && c.now + wait < c.deadlineAt;
  if (short && c.requested && !c.waitedOnRetryAfter && mayTryAgain(c)) return { kind: "wait_retry", delayMs: wait };
  return retryAt !== null ? { kind: "next_step", retryAt } : { kind: "learn_cooling" };
}

function afterTransient(c: FailureContext, retryAt: number | null): NextMove {
  if (!mayTryAgain(c) || c.retries >= c.retry.maxRetries) return { kind: "next_step", retryAt };
  const delayMs = c.random * Math.min(c.retry.maxDelayMs, c.retry.baseDelayMs * 2 ** c.retries);
  if (delayMs >= c.deadlineAt - c.now) return { kind: "next_step", retryAt };
  return { kind: "retry", delayMs };
}
