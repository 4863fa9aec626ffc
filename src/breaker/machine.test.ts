import { describe, expect, it } from "vitest";
import { BASE, F, halfOpen, opened, permit, R, S, setup, T0 } from "../../test/support/breaker-machine";
import type { Outcome } from "../core/circuit";

describe("closed", () => {
  it("admits everything without a permit", () => {
    const { b } = setup();
    for (let i = 0; i < 50; i++)
      expect(b.acquire(1000).admission).toEqual({ kind: "admitted", permitId: null, leaseUntil: null });
    expect(b.view().halfOpenInFlight).toBe(0);
  });

  it("opens when the consecutive rule fires", () => {
    const { b } = setup();
    expect([b.record(F), b.record(F), b.view().consecutiveFailures]).toEqual([[], [], 2]);
    expect(b.record(F)).toEqual([{ from: "closed", to: "open", reason: "failure_threshold", at: T0 }]);
    const lifetime = { failures: 3, opens: 1 };
    expect(b.view()).toMatchObject({ state: "open", openedAt: T0, nextAttemptAt: T0 + 60_000, consecutiveFailures: 0, lifetime });
  });

  it("consecutive: S,F,F,S,F never trips a threshold of 3", () => {
    const { b } = setup();
    for (const o of [S, F, F, S, F]) expect(b.record(o)).toEqual([]);
    expect(b.view()).toMatchObject({ state: "closed", consecutiveFailures: 1 });
  });

  it("does not count 429s, client aborts or ignored outcomes toward the trip", () => {
    const { b } = setup();
    for (const o of [F, F, R(0), { kind: "client_abort" }, { kind: "ignored" }] as const) b.record(o);
    expect(b.view()).toMatchObject({ state: "closed", consecutiveFailures: 2 });
  });
});

describe("open", () => {
  it("admits nothing, and rejections are not failures", () => {
    const { b } = opened();
    const before = b.view();
    const rejected = { admission: { kind: "rejected", reason: "open", retryAt: T0 + 60_000 }, transitions: [] };
    for (let i = 0; i < 20; i++) expect(b.acquire(1000)).toEqual(rejected);
    expect(b.view()).toEqual(before);
    expect(b.nextDeadline()).toBe(T0 + 60_000);
  });

  it("goes half_open lazily once openTimeoutMs passed, on the next acquire", () => {
    const { clock, b } = opened();
    clock.now += 59_999;
    expect(b.acquire(1000).admission.kind).toBe("rejected");
    clock.now += 1;
    const { admission, transitions } = b.acquire(1000);
    expect(transitions).toEqual([{ from: "open", to: "half_open", reason: "open_timeout", at: T0 + 60_000 }]);
    expect(admission).toEqual({ kind: "admitted", permitId: "p1", leaseUntil: T0 + 61_000 });
    expect(b.view()).toMatchObject({ state: "half_open", openedAt: null, nextAttemptAt: null, halfOpenInFlight: 1 });
  });

  it("goes half_open from tick() (the alarm) after a large clock jump", () => {
    const { clock, b } = opened();
    clock.now += 10 * 86_400_000;
    expect([b.tick(), b.tick()]).toEqual([[{ from: "open", to: "half_open", reason: "open_timeout", at: clock.now }], []]);
  });
});

describe("half_open", () => {
  it("leases at most halfOpenMaxCalls permits; a full circuit says when the earliest lease ends", () => {
    const { clock, b } = halfOpen();
    permit(b, 5_000);
    clock.now += 100;
    permit(b, 1_000);
    expect(b.acquire(1000).admission).toEqual({ kind: "rejected", reason: "half_open_full", retryAt: clock.now + 1_000 });
    expect(b.view().halfOpenInFlight).toBe(2);
    expect(b.nextDeadline()).toBe(clock.now + 1_000);
  });

  it("closes after successThreshold probe successes", () => {
    const { clock, b } = halfOpen();
    const [a, c] = [permit(b), permit(b)];
    expect(b.record(S, a)).toEqual([]);
    expect(b.view()).toMatchObject({ halfOpenSuccesses: 1, halfOpenInFlight: 1 });
    expect(b.record(S, c)).toEqual([{ from: "half_open", to: "closed", reason: "probe_success", at: clock.now }]);
    expect(b.view()).toMatchObject({ state: "closed", halfOpenSuccesses: 0, halfOpenInFlight: 0, consecutiveFailures: 0 });
  });

  it("reopens on a probe failure with a fresh timer and no stale successes", () => {
    const { clock, b } = halfOpen();
    const [a, c] = [permit(b), permit(b)];
    b.record(S, a);
    clock.now += 10;
    expect(b.record(F, c)).toEqual([{ from: "half_open", to: "open", reason: "probe_failure", at: clock.now }]);
    const reopened = { state: "open", openedAt: clock.now, nextAttemptAt: clock.now + 60_000, lifetime: { opens: 2 } };
    expect(b.view()).toMatchObject({ ...reopened, halfOpenSuccesses: 0 });
    clock.now += 60_000;
    b.tick();
    expect(b.view()).toMatchObject({ state: "half_open", halfOpenSuccesses: 0 });
    expect(b.record(S, permit(b))).toEqual([]); // one success must not close: the old one is gone
    expect(b.view()).toMatchObject({ state: "half_open", halfOpenSuccesses: 1 });
  });

  it("frees the slot of an expired lease", () => {
    const { clock, b } = halfOpen();
    permit(b, 1_000);
    permit(b, 9_000);
    clock.now += 1_000;
    expect(b.acquire(1000).admission).toMatchObject({ kind: "admitted", permitId: "p3" });
    expect(b.view()).toMatchObject({ halfOpenInFlight: 2, lifetime: { expiredLeases: 1 } });
  });

  it("drops a report for an expired lease: only droppedReports changes", () => {
    const { clock, b } = halfOpen();
    const late = permit(b, 1_000);
    clock.now += 2_000;
    b.tick();
    const before = b.view();
    expect([b.record(F, late), b.record(S, late), b.record(S, "never-issued")]).toEqual([[], [], []]);
    expect(b.view()).toEqual({ ...before, lifetime: { ...before.lifetime, droppedReports: 3 } });
  });

  it("releases a lease without counting on client_abort, ignored or rate_limited", () => {
    const { clock, b } = halfOpen({ halfOpenMaxCalls: 3 });
    const outcomes: Outcome[] = [{ kind: "client_abort" }, { kind: "ignored" }, R(500)];
    for (const [o, id] of outcomes.map((o) => [o, permit(b)] as const)) b.record(o, id);
    const lifetime = { clientAborts: 1, ignored: 1, rateLimited: 1, droppedReports: 0 };
    expect(b.view()).toMatchObject({
      state: "half_open",
      halfOpenInFlight: 0,
      halfOpenSuccesses: 0,
      coolingUntil: clock.now + 500,
      lifetime,
    });
  });
});

it.each([
  ["open", opened],
  ["half_open", halfOpen],
] as const)("late outcomes without a permit only count (%s)", (state, make) => {
  const { b } = make();
  const before = b.view();
  for (const o of [S, S, F, { kind: "ignored" }] as const) expect(b.record(o)).toEqual([]);
  const { successes, failures, ignored } = before.lifetime;
  const lifetime = { ...before.lifetime, successes: successes + 2, failures: failures + 1, ignored: ignored + 1 };
  expect(b.view()).toEqual({ ...before, state, lifetime });
});

describe("forced_open", () => {
  it("without a duration admits nothing until reset", () => {
    const { clock, b } = setup();
    expect(b.forceOpen("maintenance", null)).toEqual([
      { from: "closed", to: "forced_open", reason: "forced: maintenance", at: T0 },
    ]);
    clock.now += 365 * 86_400_000;
    expect(b.acquire(1000)).toEqual({ admission: { kind: "rejected", reason: "forced_open", retryAt: null }, transitions: [] });
    expect(b.view()).toMatchObject({ state: "forced_open", forcedReason: "maintenance", openedAt: T0, nextAttemptAt: null });
    expect(b.nextDeadline()).toBeNull();
    expect(b.reset()).toEqual([{ from: "forced_open", to: "closed", reason: "reset", at: clock.now }]);
    expect(b.view()).toMatchObject({ state: "closed", forcedReason: null, openedAt: null });
  });

  it("with a duration goes half_open at its end", () => {
    const { clock, b } = setup();
    b.forceOpen("deploy", 30_000);
    expect(b.acquire(1000).admission).toEqual({ kind: "rejected", reason: "forced_open", retryAt: T0 + 30_000 });
    expect(b.nextDeadline()).toBe(T0 + 30_000);
    clock.now += 30_000;
    expect(b.tick()).toEqual([{ from: "forced_open", to: "half_open", reason: "forced_end", at: clock.now }]);
    expect(b.view().forcedReason).toBeNull();
  });

  it("forcing again replaces the reason and the end, keeping openedAt", () => {
    const { clock, b } = setup();
    b.forceOpen("a", 30_000);
    clock.now += 1_000;
    expect(b.forceOpen("b", null)).toEqual([{ from: "forced_open", to: "forced_open", reason: "forced: b", at: clock.now }]);
    expect(b.view()).toMatchObject({ forcedReason: "b", nextAttemptAt: null, openedAt: T0, lifetime: { opens: 1 } });
    clock.now += 100_000;
    expect(b.tick()).toEqual([]);
  });

  it("forcing a half-open circuit voids its leases", () => {
    const { b } = halfOpen();
    const id = permit(b);
    b.forceOpen("x", 0);
    b.tick();
    expect(b.record(S, id)).toEqual([]);
    expect(b.view()).toMatchObject({ state: "half_open", halfOpenSuccesses: 0, lifetime: { droppedReports: 1 } });
  });
});

describe("reset", () => {
  it("closes, clears state counters and cooling, keeps lifetime counters", () => {
    const { clock, b } = halfOpen();
    b.record(S, permit(b));
    b.record(R(null));
    const lifetime = b.view().lifetime;
    expect(b.reset("operator")).toEqual([{ from: "half_open", to: "closed", reason: "reset: operator", at: clock.now }]);
    expect(b.view()).toEqual({
      state: "closed",
      consecutiveFailures: 0,
      halfOpenSuccesses: 0,
      halfOpenInFlight: 0,
      openedAt: null,
      nextAttemptAt: null,
      coolingUntil: null,
      forcedReason: null,
      slowCalls: 0,
      slowCallsTotal: 0,
      lifetime,
    });
    b.record(R(null));
    expect(b.view().coolingUntil).toBe(clock.now + 1_000); // the exponent was reset too
  });

  it("on a closed circuit clears its failure count and is recorded", () => {
    const { clock, b } = setup();
    for (const o of [F, F]) b.record(o);
    expect(b.reset()).toEqual([{ from: "closed", to: "closed", reason: "reset", at: clock.now }]);
    expect(b.record(F)).toEqual([]);
    expect(b.view()).toMatchObject({ state: "closed", consecutiveFailures: 1, lifetime: { opens: 0 } });
  });
});

describe("cooling (429)", () => {
  it("follows Retry-After up to its cap, is no failure, rejects with 'cooling', leaves the state alone", () => {
    const { clock, b } = setup();
    b.record(F);
    expect(b.record(R(5_000))).toEqual([]);
    expect(b.view()).toMatchObject({ state: "closed", consecutiveFailures: 1, coolingUntil: T0 + 5_000 });
    expect(b.acquire(1000).admission).toEqual({ kind: "rejected", reason: "cooling", retryAt: T0 + 5_000 });
    clock.now += 5_000;
    expect(b.acquire(1000).admission.kind).toBe("admitted");
    expect(b.view().coolingUntil).toBeNull();
    b.record(R(3_600_000));
    expect(b.view().coolingUntil).toBe(clock.now + BASE.coolingMaxMs); // capped
  });

  it("backs off exponentially from 1 s without Retry-After, capped; a success resets it", () => {
    const { b } = setup({ coolingMaxMs: 10_000 });
    const cool = () => {
      b.record(R(null));
      return b.view().coolingUntil;
    };
    expect([1, 2, 3, 4, 5, 6].map(cool)).toEqual([1, 2, 4, 8, 10, 10].map((s) => T0 + s * 1_000));
    b.record(S);
    expect(b.view().coolingUntil).toBeNull();
    expect(cool()).toBe(T0 + 1_000);
  });

  it("holds back half-open probes without taking a lease", () => {
    const { b } = halfOpen();
    b.record(R(2_000));
    expect(b.acquire(1000).admission).toMatchObject({ kind: "rejected", reason: "cooling" });
    expect(b.view().halfOpenInFlight).toBe(0);
  });
});

describe("rate rule", () => {
  const rate = { trip: "rate", failureRateThreshold: 0.5, minimumCalls: 4, windowMs: 10_000 } as const;

  const opened = [{ from: "closed", to: "open", reason: "failure_rate", at: T0 }];

  it("never trips before minimumCalls outcomes, even at 100% failures", () => {
    const { b } = setup(rate);
    expect([F, F, F, F].map((o) => b.record(o))).toEqual([[], [], [], opened]);
  });

  it("trips exactly at its ratio, not below it", () => {
    const { b } = setup(rate);
    expect([S, S, S, F, F, F].map((o) => b.record(o))).toEqual([[], [], [], [], [], opened]); // 2/5, then 3/6
  });

  it("forgets outcomes older than the window", () => {
    const { clock, b } = setup(rate);
    for (let i = 0; i < 3; i++) b.record(F);
    clock.now += 10_000;
    for (const o of [S, S, S]) b.record(o);
    expect(b.record(F)).toEqual([]); // the three old failures left the window: 1/4
  });
});
