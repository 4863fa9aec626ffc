import fc from "fast-check";
import { expect, it } from "vitest";
import type { CircuitState, Outcome } from "../core/circuit";
import { Breaker, SLOW_CALL_RATE } from "./machine";
import type { Admission, BreakerConfig, BreakerData, CircuitView, LifetimeCounters, Transition } from "./state";

type Permit = "valid" | "stale" | "absent";
type Event =
  | { e: "acquire"; leaseMs: number }
  | { e: "record"; outcome: Outcome; permit: Permit; pick: number }
  | { e: "force"; reason: string; durationMs: number | null }
  | { e: "reset" }
  | { e: "tick" }
  | { e: "alarm" } // the Durable Object's alarm: the clock jumps to nextDeadline(), then tick()
  | { e: "wait"; ms: number };

const configArb: fc.Arbitrary<BreakerConfig> = fc.record({
  trip: fc.constantFrom("consecutive", "rate"),
  failureThreshold: fc.integer({ min: 1, max: 4 }),
  failureRateThreshold: fc.constantFrom(0.25, 0.5, 1),
  minimumCalls: fc.integer({ min: 1, max: 6 }),
  windowMs: fc.constantFrom(1_000, 30_000),
  successThreshold: fc.integer({ min: 1, max: 3 }),
  openTimeoutMs: fc.constantFrom(100, 5_000, 60_000),
  halfOpenMaxCalls: fc.integer({ min: 1, max: 3 }),
  slowCallMs: fc.constantFrom(null, 2_000),
  slowCallRateThreshold: fc.constantFrom(0.25, 0.5, 1),
  coolingMaxMs: fc.constantFrom(1_000, 60_000),
});

const outcomeArb: fc.Arbitrary<Outcome> = fc.oneof(
  { arbitrary: fc.constant({ kind: "success" } as const), weight: 3 },
  { arbitrary: fc.constant({ kind: "success", slow: true } as const), weight: 2 },
  { arbitrary: fc.constant({ kind: "failure", reason: "upstream_5xx" } as const), weight: 3 },
  fc.record({ kind: fc.constant("rate_limited" as const), retryAfterMs: fc.option(fc.integer({ min: -10, max: 100_000 })) }),
  fc.constant({ kind: "client_abort" } as const),
  fc.constant({ kind: "ignored" } as const),
);

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { arbitrary: fc.record({ e: fc.constant("acquire" as const), leaseMs: fc.integer({ min: 1, max: 20_000 }) }), weight: 8 },
  {
    arbitrary: fc.record({
      e: fc.constant("record" as const),
      outcome: outcomeArb,
      permit: fc.constantFrom<Permit>("valid", "valid", "stale", "absent", "absent"),
      pick: fc.nat(),
    }),
    weight: 12,
  },
  fc.record({
    e: fc.constant("force" as const),
    reason: fc.constantFrom("maint", "drill"),
    durationMs: fc.option(fc.integer({ min: 0, max: 100_000 })),
  }),
  fc.constant({ e: "reset" } as const),
  { arbitrary: fc.constant({ e: "tick" } as const), weight: 2 },
  { arbitrary: fc.constant({ e: "alarm" } as const), weight: 2 },
  {
    arbitrary: fc.record({
      e: fc.constant("wait" as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 1e9 })),
    }),
    weight: 5,
  },
);

type Result = { transitions: Transition[]; admission?: Admission; settled?: CircuitView };

/** What the test believes about permits, independently of the breaker: the model. */
interface Model {
  issued: string[];
  live: Map<string, number>; // permit id -> lease end, for leases the breaker should still hold
  expired: number;
}

/** "valid" with no live lease falls back to no permit, so closed circuits still see outcomes. */
function pickPermit(m: Model, ev: Extract<Event, { e: "record" }>, now: number): string | null {
  if (ev.permit === "valid") return [...m.live.keys()][ev.pick % m.live.size] ?? null;
  if (ev.permit === "absent") return null;
  const stale = m.issued.filter((id) => now >= (m.live.get(id) ?? -Infinity));
  return stale[ev.pick % stale.length] ?? `ghost-${ev.pick}`;
}

/** `settle` ticks before a report, so what the report alone changed can be told apart. */
function apply(b: Breaker, ev: Event, permitId: string | null, settle: boolean): Result {
  switch (ev.e) {
    case "acquire":
      return b.acquire(ev.leaseMs);
    case "record": {
      if (!settle) return { transitions: b.record(ev.outcome, permitId) };
      const due = b.tick();
      const settled = b.view();
      return { transitions: [...due, ...b.record(ev.outcome, permitId)], settled };
    }
    case "force":
      return { transitions: b.forceOpen(ev.reason, ev.durationMs) };
    case "reset":
      return { transitions: b.reset() };
    case "tick":
    case "alarm":
      return { transitions: b.tick() };
    case "wait":
      return { transitions: [] };
  }
}

const COUNTER = {
  success: "successes",
  failure: "failures",
  rate_limited: "rateLimited",
  client_abort: "clientAborts",
  ignored: "ignored",
} as const satisfies Record<Outcome["kind"], keyof LifetimeCounters>;
const admits = (s: CircuitState) => s === "closed" || s === "half_open";

function checkInvariants(v: CircuitView, data: BreakerData, config: BreakerConfig, now: number, ticked: boolean): void {
  expect(v.halfOpenInFlight).toBeLessThanOrEqual(config.halfOpenMaxCalls);
  expect(v.halfOpenSuccesses).toBeLessThan(config.successThreshold);
  if (v.state !== "half_open") expect([v.halfOpenInFlight, v.halfOpenSuccesses]).toEqual([0, 0]);
  if (v.state !== "closed") expect(v.consecutiveFailures).toBe(0);
  if (v.state === "closed" && config.trip === "consecutive") expect(v.consecutiveFailures).toBeLessThan(config.failureThreshold);
  if (v.state === "open") expect(v.nextAttemptAt).not.toBeNull();
  if (admits(v.state)) expect([v.openedAt, v.nextAttemptAt]).toEqual([null, null]);
  else expect(v.openedAt).not.toBeNull();
  expect(v.forcedReason !== null).toBe(v.state === "forced_open");
  if (ticked && v.coolingUntil !== null) expect(v.coolingUntil).toBeGreaterThan(now);
  // The trip rule's counters belong to the closed state like consecutiveFailures do.
  if (data.trip.kind === "consecutive") expect(data.trip.failures).toBe(v.consecutiveFailures);
  else if (v.state !== "closed") expect(data.trip.buckets).toEqual([]);
  // So does the slow-call window, which half-open probes feed too; without slowCallMs it stays empty.
  if (!admits(v.state) || config.slowCallMs === null) expect([data.slow?.buckets, v.slowCalls]).toEqual([[], 0]);
  expect(v.slowCalls).toBeLessThanOrEqual(v.slowCallsTotal);
}

const isSlow = (o: Outcome) => o.kind === "success" && o.slow === true;

/** The slow-call window's calls and slow calls at `now`, summed from the saved data. */
function slowWindow(data: BreakerData, config: BreakerConfig, now: number): { calls: number; slow: number } {
  const index = Math.floor(now / (config.windowMs / 10));
  const live = (data.slow?.buckets ?? []).filter((b) => b.index > index - 10 && b.index <= index);
  return { calls: live.reduce((n, b) => n + b.calls, 0), slow: live.reduce((n, b) => n + b.slow, 0) };
}

/** DESIGN §18: slowness counts only when configured, and a closed circuit never rests at the slow-call threshold. */
function checkSlowCalls({ ev, before, after, r, now, dropped }: Step, data: BreakerData, config: BreakerConfig): void {
  const heard = ev.e === "record" && !dropped && isSlow(ev.outcome) && config.slowCallMs !== null;
  expect(after.slowCallsTotal).toBe(before.slowCallsTotal + (heard ? 1 : 0));
  for (const t of r.transitions.filter((t) => t.reason === SLOW_CALL_RATE)) {
    expect([ev.e, t.to, config.slowCallMs !== null]).toEqual(["record", "open", true]);
    expect(["closed", "half_open"]).toContain(t.from);
  }
  const steered = ev.e === "record" && !dropped && (ev.outcome.kind === "success" || ev.outcome.kind === "failure");
  if (steered && after.state === "closed" && r.transitions.length === 0 && config.slowCallMs !== null) {
    const w = slowWindow(data, config, now);
    expect(w.slow).toBe(after.slowCalls);
    expect(w.calls < config.minimumCalls || w.slow / w.calls < config.slowCallRateThreshold).toBe(true);
  }
}

interface Step {
  ev: Event;
  before: CircuitView;
  after: CircuitView;
  r: Result;
  now: number;
  dropped: boolean;
  deadline: number | null;
}

function checkStep({ ev, before, after, r, now, dropped, deadline }: Step, config: BreakerConfig): void {
  const expected = { ...before.lifetime, expiredLeases: after.lifetime.expiredLeases };
  if (ev.e === "record") expected[dropped ? "droppedReports" : COUNTER[ev.outcome.kind]] += 1;
  expected.opens += r.transitions.filter((t) => admits(t.from) && !admits(t.to)).length;
  expect(after.lifetime).toEqual(expected);
  for (const [k, n] of Object.entries(after.lifetime))
    expect(n).toBeGreaterThanOrEqual(before.lifetime[k as keyof LifetimeCounters]);

  let state = before.state;
  for (const t of r.transitions) {
    expect([t.from, t.at]).toEqual([state, now]);
    if (t.to === "forced_open") expect(ev.e).toBe("force");
    if (t.to === "closed") expect(t.reason === "probe_success" || ev.e === "reset").toBe(true);
    if (t.from === "forced_open" && t.to !== "forced_open") {
      // A forced circuit leaves only through an admin reset or the end it was given.
      if (t.to === "closed") expect([ev.e, t.reason]).toEqual(["reset", "reset"]);
      else
        expect(
          t.to === "half_open" && t.reason === "forced_end" && before.nextAttemptAt !== null && now >= before.nextAttemptAt,
        ).toBe(true);
    }
    state = t.to;
  }
  expect(after.state).toBe(state);

  const a = r.admission;
  if (a === undefined) return;
  if (a.kind === "admitted") {
    expect(admits(after.state) && after.coolingUntil === null).toBe(true);
    expect(a.permitId !== null).toBe(after.state === "half_open");
  } else if (a.reason === "open" || a.reason === "forced_open") {
    expect([after.state, a.retryAt]).toEqual([a.reason, after.nextAttemptAt]);
  } else if (a.reason === "half_open_full") {
    expect([after.state, after.halfOpenInFlight, a.retryAt]).toEqual(["half_open", config.halfOpenMaxCalls, deadline]);
  } else {
    expect(admits(after.state) && a.retryAt !== null && a.retryAt === after.coolingUntil).toBe(true);
  }
}

it("keeps its invariants, its permit accounting and its JSON restore over random event sequences", () => {
  fc.assert(
    fc.property(
      configArb,
      fc.array(eventArb, { minLength: 10, maxLength: 80, size: "max" }),
      fc.nat(80),
      (config, events, forkAt) => {
        let now = 1_700_000_000_000;
        let ids = 0;
        const b = new Breaker(
          config,
          () => now,
          () => `p${ids++}`,
        );
        // Forked at `forkAt` from a JSON round trip, then fed the same events: it must stay identical.
        let twin: Breaker | null = null;
        let twinIds = 0;
        const m: Model = { issued: [], live: new Map(), expired: 0 };

        events.forEach((ev, step) => {
          if (step === forkAt) {
            twinIds = ids;
            twin = new Breaker(
              config,
              () => now,
              () => `p${twinIds++}`,
              JSON.parse(JSON.stringify(b.toJSON())),
            );
          }
          if (ev.e === "wait") now += ev.ms;
          if (ev.e === "alarm") now = Math.max(now, b.nextDeadline() ?? now);
          const permitId = ev.e === "record" ? pickPermit(m, ev, now) : null;
          const dropped = permitId !== null && !(now < (m.live.get(permitId) ?? -Infinity));
          const before = b.view();
          const r = apply(b, ev, permitId, dropped);
          const after = b.view();

          // The model, in the breaker's order: time expires leases, a transition voids the rest,
          // a report returns its own, an admission in half_open adds one.
          if (ev.e !== "wait") {
            for (const [id, until] of m.live) {
              if (now < until) continue;
              m.live.delete(id);
              m.expired += 1;
            }
            if (r.transitions.length > 0) m.live.clear();
            if (permitId !== null) m.live.delete(permitId);
            if (r.admission?.kind === "admitted" && r.admission.permitId !== null && r.admission.leaseUntil !== null) {
              m.issued.push(r.admission.permitId);
              m.live.set(r.admission.permitId, r.admission.leaseUntil);
            }
            expect(after.halfOpenInFlight).toBe(after.state === "half_open" ? m.live.size : 0);
            expect(after.lifetime.expiredLeases).toBe(m.expired);
          }
          if (r.settled !== undefined) {
            // A report for a lease the breaker let go of changes nothing but droppedReports.
            const { settled } = r;
            expect(after).toEqual({
              ...settled,
              lifetime: { ...settled.lifetime, droppedReports: settled.lifetime.droppedReports + 1 },
            });
          }

          const data = b.toJSON();
          checkInvariants(after, data, config, now, ev.e !== "wait");
          const seen = { ev, before, after, r, now, dropped, deadline: b.nextDeadline() };
          checkStep(seen, config);
          checkSlowCalls(seen, data, config);

          if (twin !== null) {
            expect(apply(twin, ev, permitId, dropped)).toEqual(r);
            expect(twin.view()).toEqual(after);
            expect(twin.toJSON()).toEqual(data);
            expect(twin.nextDeadline()).toEqual(b.nextDeadline());
          }
        });
      },
    ),
    { numRuns: 300 },
  );
});
