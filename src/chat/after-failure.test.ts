import { describe, expect, it } from "vitest";
import { type FailureKind, failure } from "../core/failure";
import { afterFailure, type FailureContext } from "./after-failure";

const base: FailureContext = {
  failure: failure("server_error", "503", { status: 503 }),
  probe: false,
  requested: true,
  retries: 0,
  waitedOnRetryAfter: false,
  attemptsLeft: 3,
  now: 1_000,
  deadlineAt: 61_000,
  retry: { maxRetries: 1, baseDelayMs: 250, maxDelayMs: 60_000, waitOnRetryAfterMs: 2_000 },
  random: 0.5,
};
const at = (over: Partial<FailureContext>) => afterFailure({ ...base, ...over });
const with429 = (retryAfterMs: number | null) => failure("rate_limited", "429", { status: 429, retryAfterMs });

describe("the decision after a failed attempt", () => {
  it("retries a transient failure with full-jitter backoff, up to maxRetries", () => {
    expect(at({})).toEqual({ kind: "retry", delayMs: 125 });
    expect(at({ retries: 1, retry: { ...base.retry, maxRetries: 2 }, random: 0.5 })).toEqual({ kind: "retry", delayMs: 250 });
    expect(at({ retries: 1 })).toEqual({ kind: "next_step", retryAt: null });
  });

  it("caps the backoff at maxDelayMs", () => {
    const move = at({ retries: 20, random: 0.999, retry: { ...base.retry, maxRetries: 99, maxDelayMs: 1_000 } });
    expect(move).toEqual({ kind: "retry", delayMs: 999 });
  });

  for (const kind of ["connection", "malformed"] as const) {
    it(`treats ${kind} as transient`, () => {
      expect(at({ failure: failure(kind, kind) }).kind).toBe("retry");
    });
  }

  it("never retries into a hang: a timed-out attempt moves on at once, retries left or not", () => {
    expect(at({ failure: failure("timeout", "timeout") })).toEqual({ kind: "next_step", retryAt: null });
    expect(at({ failure: failure("timeout", "timeout"), retry: { ...base.retry, maxRetries: 5 } })).toEqual({
      kind: "next_step",
      retryAt: null,
    });
  });

  it("never retries a half-open probe", () => {
    expect(at({ probe: true })).toEqual({ kind: "next_step", retryAt: null });
  });

  it("never retries when the request has no attempt left", () => {
    expect(at({ attemptsLeft: 0 })).toEqual({ kind: "next_step", retryAt: null });
  });

  it("moves on when the backoff would outlive the deadline", () => {
    expect(at({ deadlineAt: 1_100, random: 0.9 })).toEqual({ kind: "next_step", retryAt: null });
  });

  it("says when a 503 with Retry-After could serve again, capped at maxDelayMs", () => {
    const f = failure("server_error", "503", { status: 503, retryAfterMs: 5_000 });
    expect(at({ failure: f, retries: 1 })).toEqual({ kind: "next_step", retryAt: 6_000 });
    const long = failure("server_error", "503", { status: 503, retryAfterMs: 10_000_000 });
    expect(at({ failure: long, retries: 1 })).toEqual({ kind: "next_step", retryAt: 61_000 });
  });

  it("rotates keys on 401 and 403", () => {
    expect(at({ failure: failure("auth", "401", { status: 401 }) })).toEqual({ kind: "rotate_key", status: 401 });
    expect(at({ failure: failure("auth", "403", { status: 403 }) })).toEqual({ kind: "rotate_key", status: 403 });
  });

  it("sets the account's keys aside on 402, and never retries it", () => {
    expect(at({ failure: failure("account", "402", { status: 402 }) })).toEqual({ kind: "account_refused" });
  });

  it("relays the caller's own bad request and stops for a client that left", () => {
    expect(at({ failure: failure("client_error", "400", { status: 400 }) })).toEqual({ kind: "rejected" });
    expect(at({ failure: failure("client_abort", "gone") })).toEqual({ kind: "client_gone" });
  });

  it("moves on, unretried, after a context overflow or another 4xx refusing this request", () => {
    for (const kind of ["context_overflow", "rejected"] as const satisfies FailureKind[]) {
      expect(at({ failure: failure(kind, kind, { status: 409 }), retry: { ...base.retry, maxRetries: 5 } })).toEqual({
        kind: "next_step",
        retryAt: null,
      });
    }
  });
});

describe("after a 429", () => {
  it("a short Retry-After on the requested model is waited for, once", () => {
    expect(at({ failure: with429(2_000) })).toEqual({ kind: "wait_retry", delayMs: 2_000 });
    expect(at({ failure: with429(0) })).toEqual({ kind: "wait_retry", delayMs: 0 });
    expect(at({ failure: with429(2_000), waitedOnRetryAfter: true })).toEqual({ kind: "next_step", retryAt: 3_000 });
  });

  it("whatever maxRetries says: waiting out a 429 is not a backoff retry", () => {
    expect(at({ failure: with429(500), retry: { ...base.retry, maxRetries: 0 } })).toEqual({ kind: "wait_retry", delayMs: 500 });
  });

  it("a longer one moves on at its Retry-After; without one, once the breaker's cool-down is known", () => {
    expect(at({ failure: with429(2_001) })).toEqual({ kind: "next_step", retryAt: 3_001 });
    expect(at({ failure: with429(null) })).toEqual({ kind: "learn_cooling" });
  });

  it("not waited for when the deadline comes first, for a fallback model, a probe, or with no attempt left", () => {
    const moveOn = { kind: "next_step", retryAt: 2_500 };
    expect(at({ failure: with429(1_500), deadlineAt: 2_500 })).toEqual(moveOn);
    expect(at({ failure: with429(1_500), requested: false })).toEqual(moveOn);
    expect(at({ failure: with429(1_500), probe: true })).toEqual(moveOn);
    expect(at({ failure: with429(1_500), attemptsLeft: 0 })).toEqual(moveOn);
  });

  it("waitOnRetryAfterMs 0 never waits, not even for a Retry-After of 0", () => {
    const never = { ...base.retry, waitOnRetryAfterMs: 0 };
    expect(at({ failure: with429(1), retry: never })).toEqual({ kind: "next_step", retryAt: 1_001 });
    expect(at({ failure: with429(0), retry: never })).toEqual({ kind: "next_step", retryAt: 1_000 });
  });
});
