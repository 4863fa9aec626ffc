import type { CircuitState, SkipReason } from "../core/circuit";
import type { SlowCallConfig, SlowCallData } from "./slow-calls";
import type { TripConfig, TripRuleData } from "./trip";

/** The breaker machine's data: its config, what it persists, and what it shows. */
export interface BreakerConfig extends TripConfig, SlowCallConfig {
  successThreshold: number;
  openTimeoutMs: number;
  halfOpenMaxCalls: number;
  coolingMaxMs: number; // cap for the 429 cool-down (retry.maxDelayMs)
}

export interface Transition {
  from: CircuitState;
  to: CircuitState;
  reason: string;
  at: number;
}

export type Admission =
  | { kind: "admitted"; permitId: string | null; leaseUntil: number | null }
  | { kind: "rejected"; reason: SkipReason; retryAt: number | null };

export interface LifetimeCounters {
  successes: number;
  failures: number;
  rateLimited: number;
  clientAborts: number;
  ignored: number;
  opens: number;
  expiredLeases: number;
  droppedReports: number;
}

export interface CircuitView {
  state: CircuitState;
  consecutiveFailures: number;
  halfOpenSuccesses: number;
  halfOpenInFlight: number;
  openedAt: number | null;
  /** open: end of the wait; forced_open: end of the forcing, null when it lasts until reset. */
  nextAttemptAt: number | null;
  coolingUntil: number | null;
  forcedReason: string | null;
  /** Slow calls in the slow-call window (DESIGN §18); it counts while closed, and half-open probes. */
  slowCalls: number;
  /** Lifetime, like `lifetime`'s counters. */
  slowCallsTotal: number;
  lifetime: LifetimeCounters;
}

export interface Lease {
  id: string;
  until: number;
}

/**
 * Each state carries its own counters, so entering a state builds them fresh and whatever the
 * state left behind had counted is gone: no stale half-open successes, no leftover leases.
 */
export type Phase =
  | { state: "closed"; consecutiveFailures: number }
  | { state: "open"; openedAt: number; nextAttemptAt: number }
  | { state: "half_open"; successes: number; leases: Lease[] }
  | { state: "forced_open"; openedAt: number; until: number | null; reason: string };

export interface BreakerData {
  phase: Phase;
  coolingUntil: number | null;
  coolingExponent: number;
  lifetime: LifetimeCounters;
  trip: TripRuleData;
  /** Absent in data saved before slow calls were counted. */
  slow?: SlowCallData;
}
