// The pure breaker machine's tests (src/breaker/machine*.test.ts) share these.

import { Breaker } from "../../src/breaker/machine";
import type { BreakerConfig } from "../../src/breaker/state";
import type { Outcome } from "../../src/core/circuit";

export const BASE: BreakerConfig = {
  trip: "consecutive",
  failureThreshold: 3,
  failureRateThreshold: 0.5,
  minimumCalls: 4,
  windowMs: 10_000,
  successThreshold: 2,
  openTimeoutMs: 60_000,
  halfOpenMaxCalls: 2,
  slowCallMs: null,
  slowCallRateThreshold: 0.5,
  coolingMaxMs: 60_000,
};
export const T0 = 1_000_000;
export const S: Outcome = { kind: "success" };
/** A success whose first token came later than `slowCallMs` (DESIGN §18). */
export const SLOW: Outcome = { kind: "success", slow: true };
export const F: Outcome = { kind: "failure", reason: "upstream_5xx" };
export const R = (retryAfterMs: number | null): Outcome => ({ kind: "rate_limited", retryAfterMs });

export function setup(overrides: Partial<BreakerConfig> = {}) {
  const clock = { now: T0 };
  let n = 0;
  const b = new Breaker(
    { ...BASE, ...overrides },
    () => clock.now,
    () => `p${++n}`,
  );
  return { clock, b };
}

/** A circuit just opened by three failures at T0. */
export function opened(overrides: Partial<BreakerConfig> = {}) {
  const s = setup(overrides);
  for (const o of [F, F, F]) s.b.record(o);
  return s;
}

export function halfOpen(overrides: Partial<BreakerConfig> = {}) {
  const s = opened(overrides);
  s.clock.now += BASE.openTimeoutMs;
  s.b.tick();
  return s;
}

export function permit(b: Breaker, leaseMs = 5_000): string {
  const { admission } = b.acquire(leaseMs);
  if (admission.kind !== "admitted" || admission.permitId === null) throw new Error(`no permit: ${JSON.stringify(admission)}`);
  return admission.permitId;
}
