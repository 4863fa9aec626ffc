import type { CircuitState, Outcome } from "../core/circuit";
import { coolingDelayMs } from "../core/cooling";
import { SlowCallRate } from "./slow-calls";
import type { Admission, BreakerConfig, BreakerData, CircuitView, Lease, LifetimeCounters, Phase, Transition } from "./state";
import { createTripRule, type TripRule } from "./trip";

type Closed = Extract<Phase, { state: "closed" }>;
type HalfOpen = Extract<Phase, { state: "half_open" }>;

/** The transition reason when the slow-call rate opens a circuit (DESIGN §18). */
export const SLOW_CALL_RATE = "slow_call_rate";

const isSlow = (o: Outcome): boolean => o.kind === "success" && o.slow === true;

const COUNTER = {
  success: "successes",
  failure: "failures",
  rate_limited: "rateLimited",
  client_abort: "clientAborts",
  ignored: "ignored",
} as const satisfies Record<Outcome["kind"], keyof LifetimeCounters>;

function admits(state: CircuitState): boolean {
  return state === "closed" || state === "half_open";
}

/**
 * Pure circuit breaker: time comes only from `clock`, and time-based changes happen lazily in
 * tick(), which every mutating method runs first. The read-only methods (view, nextDeadline,
 * toJSON) do not tick, so a due transition is never applied where nobody could log it: call
 * tick() first to see the current picture. (view reads the clock, but only to age the slow-call
 * window it shows.)
 */
export class Breaker {
  private readonly trip: TripRule;
  private readonly slow: SlowCallRate;
  private phase: Phase;
  private coolingUntil: number | null;
  /** Survives transitions: a 429 says the upstream is busy whatever the circuit's state. */
  private coolingExponent: number;
  private readonly lifetime: LifetimeCounters;

  constructor(
    private readonly config: BreakerConfig,
    private readonly clock: () => number,
    private readonly newId: () => string,
    saved?: BreakerData,
  ) {
    this.trip = createTripRule(config, saved?.trip);
    this.slow = new SlowCallRate(config, saved?.slow);
    this.phase = saved === undefined ? { state: "closed", consecutiveFailures: 0 } : structuredClone(saved.phase);
    this.coolingUntil = saved?.coolingUntil ?? null;
    this.coolingExponent = saved?.coolingExponent ?? 0;
    this.lifetime =
      saved === undefined
        ? {
            successes: 0,
            failures: 0,
            rateLimited: 0,
            clientAborts: 0,
            ignored: 0,
            opens: 0,
            expiredLeases: 0,
            droppedReports: 0,
          }
        : { ...saved.lifetime };
  }

  tick(): Transition[] {
    return this.advance(this.clock());
  }

  acquire(leaseMs: number): { admission: Admission; transitions: Transition[] } {
    if (!(Number.isFinite(leaseMs) && leaseMs > 0)) throw new RangeError(`leaseMs must be a positive number, got ${leaseMs}`);
    const now = this.clock();
    const transitions = this.advance(now);
    return { admission: this.admit(now, leaseMs), transitions };
  }

  /**
   * A permit id that names no live lease (expired, or cleared by a transition since) means the
   * report is about a probe the circuit already gave up on: it is dropped whole. Without a permit,
   * the outcome only steers a closed circuit; otherwise it is a late one from before it opened
   * and feeds just the lifetime counters and cooling, which hold whatever the state.
   */
  record(outcome: Outcome, permitId: string | null = null): Transition[] {
    const now = this.clock();
    const out = this.advance(now);
    const p = this.phase;
    if (permitId !== null) {
      const i = p.state === "half_open" ? p.leases.findIndex((l) => l.id === permitId) : -1;
      if (p.state !== "half_open" || i < 0) {
        this.lifetime.droppedReports += 1;
        return out;
      }
      p.leases.splice(i, 1);
      this.count(outcome, now);
      this.probed(p, outcome, now, out);
      return out;
    }
    this.count(outcome, now);
    if (p.state === "closed") this.steer(p, outcome, now, out);
    return out;
  }

  /**
   * Forcing an already forced circuit replaces its reason and end, and is still returned as a
   * (forced_open → forced_open) transition so the operator's action shows in the history.
   */
  forceOpen(reason: string, durationMs: number | null): Transition[] {
    if (durationMs !== null && !(Number.isFinite(durationMs) && durationMs >= 0)) {
      throw new RangeError(`durationMs must be a non-negative number or null, got ${durationMs}`);
    }
    const now = this.clock();
    const out = this.advance(now);
    const p = this.phase;
    // The circuit has been refusing traffic since it first opened; forcing does not change that.
    const openedAt = p.state === "open" || p.state === "forced_open" ? p.openedAt : now;
    const until = durationMs === null ? null : now + durationMs;
    this.enter({ state: "forced_open", openedAt, until, reason }, `forced: ${reason}`, now, out);
    return out;
  }

  /** Always returns one transition, (closed → closed) included, so every admin reset is recorded. */
  reset(reason?: string): Transition[] {
    const now = this.clock();
    const out = this.advance(now);
    this.enter({ state: "closed", consecutiveFailures: 0 }, reason === undefined ? "reset" : `reset: ${reason}`, now, out);
    this.coolingUntil = null;
    this.coolingExponent = 0;
    return out;
  }

  view(): CircuitView {
    const p = this.phase;
    return {
      state: p.state,
      consecutiveFailures: p.state === "closed" ? p.consecutiveFailures : 0,
      halfOpenSuccesses: p.state === "half_open" ? p.successes : 0,
      halfOpenInFlight: p.state === "half_open" ? p.leases.length : 0,
      openedAt: p.state === "open" || p.state === "forced_open" ? p.openedAt : null,
      nextAttemptAt: p.state === "open" ? p.nextAttemptAt : p.state === "forced_open" ? p.until : null,
      coolingUntil: this.coolingUntil,
      forcedReason: p.state === "forced_open" ? p.reason : null,
      slowCalls: this.slow.slowInWindow(this.clock()),
      slowCallsTotal: this.slow.total,
      lifetime: { ...this.lifetime },
    };
  }

  /** Cooling's end is left out: it changes no state, and admission compares it with the clock. */
  nextDeadline(): number | null {
    return this.phase.state === "half_open" ? earliest(this.phase.leases) : this.view().nextAttemptAt;
  }

  toJSON(): BreakerData {
    return {
      phase: structuredClone(this.phase),
      coolingUntil: this.coolingUntil,
      coolingExponent: this.coolingExponent,
      lifetime: { ...this.lifetime },
      trip: this.trip.toJSON(),
      slow: this.slow.toJSON(),
    };
  }

  private advance(now: number): Transition[] {
    const out: Transition[] = [];
    const p = this.phase;
    if (p.state === "open" && now >= p.nextAttemptAt) {
      this.enter({ state: "half_open", successes: 0, leases: [] }, "open_timeout", now, out);
    } else if (p.state === "forced_open" && p.until !== null && now >= p.until) {
      this.enter({ state: "half_open", successes: 0, leases: [] }, "forced_end", now, out);
    } else if (p.state === "half_open") {
      const live = p.leases.filter((l) => now < l.until);
      this.lifetime.expiredLeases += p.leases.length - live.length;
      p.leases = live;
    }
    if (this.coolingUntil !== null && now >= this.coolingUntil) this.coolingUntil = null;
    return out;
  }

  private admit(now: number, leaseMs: number): Admission {
    const p = this.phase;
    switch (p.state) {
      case "open":
        return { kind: "rejected", reason: "open", retryAt: p.nextAttemptAt };
      case "forced_open":
        return { kind: "rejected", reason: "forced_open", retryAt: p.until };
      case "half_open":
        if (p.leases.length >= this.config.halfOpenMaxCalls) {
          return { kind: "rejected", reason: "half_open_full", retryAt: earliest(p.leases) };
        }
    }
    if (this.coolingUntil !== null) return { kind: "rejected", reason: "cooling", retryAt: this.coolingUntil };
    if (p.state === "closed") return { kind: "admitted", permitId: null, leaseUntil: null };
    const lease = { id: this.newId(), until: now + leaseMs };
    p.leases.push(lease);
    return { kind: "admitted", permitId: lease.id, leaseUntil: lease.until };
  }

  /**
   * A probe's outcome. Like resilience4j's half-open evaluation, the probes' slow-call rate is
   * checked before closing: probes that answer, but slowly, show the model has not recovered.
   */
  private probed(p: HalfOpen, outcome: Outcome, now: number, out: Transition[]): void {
    if (outcome.kind === "success") {
      p.successes += 1;
      this.slow.add(now, isSlow(outcome));
      if (p.successes < this.config.successThreshold) return;
      if (this.slow.tooSlow(now)) this.enter(this.opened(now), SLOW_CALL_RATE, now, out);
      else this.enter({ state: "closed", consecutiveFailures: 0 }, "probe_success", now, out);
    } else if (outcome.kind === "failure") {
      this.enter(this.opened(now), "probe_failure", now, out);
    }
  }

  /** A closed circuit's outcome: the trip rule first, then the slow-call rate (DESIGN §18). */
  private steer(p: Closed, outcome: Outcome, now: number, out: Transition[]): void {
    if (outcome.kind !== "success" && outcome.kind !== "failure") return;
    this.slow.add(now, isSlow(outcome));
    let reason: string | null = null;
    if (outcome.kind === "success") {
      p.consecutiveFailures = 0;
      this.trip.onSuccess(now);
    } else {
      p.consecutiveFailures += 1;
      if (this.trip.onFailure(now)) reason = this.trip.reason;
    }
    if (reason === null && this.slow.trips(now)) reason = SLOW_CALL_RATE;
    if (reason !== null) this.enter(this.opened(now), reason, now, out);
  }

  private opened(now: number): Phase {
    return { state: "open", openedAt: now, nextAttemptAt: now + this.config.openTimeoutMs };
  }

  private enter(next: Phase, reason: string, now: number, out: Transition[]): void {
    const from = this.phase.state;
    if (admits(from) && !admits(next.state)) this.lifetime.opens += 1;
    this.trip.reset();
    this.slow.reset();
    this.phase = next;
    out.push({ from, to: next.state, reason, at: now });
  }

  private count(outcome: Outcome, now: number): void {
    this.lifetime[COUNTER[outcome.kind]] += 1;
    if (isSlow(outcome)) this.slow.counted();
    if (outcome.kind === "success") {
      this.coolingUntil = null;
      this.coolingExponent = 0;
    } else if (outcome.kind === "rate_limited") {
      this.cool(outcome.retryAfterMs, now);
    }
  }

  /** The latest 429 wins, even if it asks for less than an earlier one: it is the freshest word. */
  private cool(retryAfterMs: number | null, now: number): void {
    const delayMs = coolingDelayMs(retryAfterMs, this.coolingExponent, this.config.coolingMaxMs);
    // Stop doubling once the cap is reached, so the persisted exponent stays small.
    if (retryAfterMs === null && delayMs < this.config.coolingMaxMs) this.coolingExponent += 1;
    this.coolingUntil = delayMs > 0 ? now + delayMs : null;
  }
}

function earliest(leases: Lease[]): number | null {
  return leases.reduce<number | null>((min, l) => (min === null || l.until < min ? l.until : min), null);
}
