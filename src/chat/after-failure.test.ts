import { describe, expect, it } from "vitest";
import { failure } from "../core/failure";
import { afterFailure, type FailureContext } from "./after-failure";

const base: FailureContext = {
  failure: failure("server_error", "503", { status: 503 }),
  probe: false,
  retries: 0,
  now: 1_000,
  deadlineAt: 61_000,
  retry: { maxRetries: 1, baseDelayMs: 250, maxDelayMs: 60_000 },
  random: 0.5,
};
const at = (over: Partial<FailureContext>) => afterFailure({ ...base, ...over });

describe("the decision after a failed attempt", () => {
  it("retries a transient failure with full-jitter backoff, up to maxRetries", () => {
    expect(at({})).toEqual({ kind: "retry", delayMs: 125 });
    expect(at({ retries: 1, retry: { ...base.retry, maxRetries: 2 }, random: 0.5 })).toEqual({ kind: "retry", delayMs: 250 });
    expect(at({ retries: 1 })).toEqual({ kind: "next_step", retryAt: null });
  });

  it("caps the backoff at maxDelayMs", () => {
    const move = at({ retries: 20, random: 0.999, retry: { maxRetries: 99, baseDelayMs: 250, maxDelayMs: 1_000 } });
    expect(move).toEqual({ kind: "retry", delayMs: 999 });
  });

  for (const kind of ["connection", "timeout", "malformed"] as const) {
    it(`treats ${kind} as transient`, () => {
      expect(at({ failure: failure(kind, kind) }).kind).toBe("retry");
    });
  }

  it("never retries a half-open probe", () => {
    expect(at({ probe: true })).toEqual({ kind: "next_step", retryAt: null });
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

  it("moves on after a 429: at its Retry-After, or once the breaker's cool-down is known", () => {
    const told = failure("rate_limited", "429", { status: 429, retryAfterMs: 2_000 });
    expect(at({ failure: told })).toEqual({ kind: "next_step", retryAt: 3_000 });
    expect(at({ failure: failure("rate_limited", "429", { status: 429 }) })).toEqual({ kind: "learn_cooling" });
  });

  it("rotates keys on 401 and 403", () => {
    expect(at({ failure: failure("auth", "401", { status: 401 }) })).toEqual({ kind: "rotate_key", status: 401 });
    expect(at({ failure: failure("auth", "403", { status: 403 }) })).toEqual({ kind: "rotate_key", status: 403 });
  });

  it("relays the caller's own bad request and stops for a client that left", () => {
    expect(at({ failure: failure("client_error", "400", { status: 400 }) })).toEqual({ kind: "rejected" });
    expect(at({ failure: failure("client_abort", "gone") })).toEqual({ kind: "client_gone" });
  });
});
