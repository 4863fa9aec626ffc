import { describe, expect, it } from "vitest";
import { BASE, F, halfOpen, opened, permit, R, S, SLOW, setup, T0 } from "../../test/support/breaker-machine";
import { Breaker } from "./machine";

// DESIGN §18: 2 slow calls of 4 reach a threshold of 0.5.
const SLOWNESS = { slowCallMs: 1_000, slowCallRateThreshold: 0.5, minimumCalls: 4, windowMs: 10_000 } as const;
const slowOpened = (at = T0) => [{ from: "closed", to: "open", reason: "slow_call_rate", at }];

describe("slow calls (closed)", () => {
  it("slowCallMs null (the default): slow successes are plain successes and never open", () => {
    const { b } = setup({ minimumCalls: 1 });
    for (let i = 0; i < 20; i++) expect(b.record(SLOW)).toEqual([]);
    expect(b.view()).toMatchObject({ state: "closed", slowCalls: 0, slowCallsTotal: 0, lifetime: { successes: 20 } });
    expect(b.toJSON().slow?.buckets).toEqual([]);
  });

  it("opens with slow_call_rate once minimumCalls were seen and the slow ratio reaches the threshold", () => {
    const { b } = setup(SLOWNESS);
    expect([SLOW, SLOW, SLOW].map((o) => b.record(o))).toEqual([[], [], []]); // below minimumCalls
    expect(b.view()).toMatchObject({ state: "closed", slowCalls: 3, slowCallsTotal: 3 });
    expect(b.record(S)).toEqual(slowOpened());
    expect(b.view()).toMatchObject({ state: "open", slowCalls: 0, slowCallsTotal: 3, lifetime: { successes: 4, opens: 1 } });
  });

  it("trips exactly at the ratio, not below it; failures are calls too", () => {
    const { b } = setup(SLOWNESS);
    expect([S, F, S, SLOW, S, SLOW, SLOW].map((o) => b.record(o))).toEqual([[], [], [], [], [], [], []]); // 3/7
    expect(b.record(SLOW)).toEqual(slowOpened()); // 4/8
  });

  it.each(["consecutive", "rate"] as const)("opens whatever the trip rule (%s)", (trip) => {
    const { b } = setup({ ...SLOWNESS, trip, failureRateThreshold: 1 });
    expect([S, SLOW, S, SLOW].map((o) => b.record(o))).toEqual([[], [], [], slowOpened()]);
  });

  it("the trip rule's reason wins when both fire on one outcome", () => {
    const { b } = setup({ ...SLOWNESS, failureThreshold: 2 });
    expect([SLOW, SLOW, F, F].map((o) => b.record(o))).toEqual([
      [],
      [],
      [],
      [{ ...slowOpened()[0], reason: "failure_threshold" }],
    ]);
  });

  it("forgets calls older than the window", () => {
    const { clock, b } = setup(SLOWNESS);
    for (const o of [SLOW, SLOW, SLOW]) b.record(o);
    clock.now += 10_000;
    expect(b.view()).toMatchObject({ slowCalls: 0, slowCallsTotal: 3 });
    expect([S, S, S, SLOW].map((o) => b.record(o))).toEqual([[], [], [], []]); // 1/4: the old three left
  });

  it("a slow call is a success: it resets consecutive failures and cooling", () => {
    const { b } = setup({ ...SLOWNESS, minimumCalls: 100 });
    for (const o of [F, F, R(5_000)]) b.record(o);
    b.record(SLOW);
    expect(b.view()).toMatchObject({ consecutiveFailures: 0, coolingUntil: null, lifetime: { successes: 1 } });
  });

  it("late slow calls while open count in the total only; a reset clears the window, not the total", () => {
    const { b } = opened(SLOWNESS);
    expect(b.record(SLOW)).toEqual([]);
    expect(b.view()).toMatchObject({ state: "open", slowCalls: 0, slowCallsTotal: 1 });
    b.reset();
    b.record(SLOW);
    expect(b.view()).toMatchObject({ slowCalls: 1, slowCallsTotal: 2 });
    b.reset();
    expect(b.view()).toMatchObject({ slowCalls: 0, slowCallsTotal: 2 });
  });
});

describe("slow calls (half_open)", () => {
  it("fast probes close the circuit", () => {
    const { clock, b } = halfOpen(SLOWNESS);
    const [x, y] = [permit(b), permit(b)];
    expect([b.record(S, x), b.record(S, y)]).toEqual([
      [],
      [{ from: "half_open", to: "closed", reason: "probe_success", at: clock.now }],
    ]);
  });

  it("probes that answer slowly reopen it, with a fresh timer", () => {
    const { clock, b } = halfOpen(SLOWNESS);
    const [x, y] = [permit(b), permit(b)];
    expect(b.record(S, x)).toEqual([]);
    expect(b.view()).toMatchObject({ state: "half_open", slowCalls: 0 });
    expect(b.record(SLOW, y)).toEqual([{ from: "half_open", to: "open", reason: "slow_call_rate", at: clock.now }]); // 1/2
    expect(b.view()).toMatchObject({ state: "open", nextAttemptAt: clock.now + 60_000, slowCalls: 0, slowCallsTotal: 1 });
  });

  it("closes when the probes' slow share stays below the threshold", () => {
    const { clock, b } = halfOpen({ ...SLOWNESS, slowCallRateThreshold: 0.75 });
    const [x, y] = [permit(b), permit(b)];
    b.record(SLOW, x);
    expect(b.record(S, y)).toEqual([{ from: "half_open", to: "closed", reason: "probe_success", at: clock.now }]);
  });

  it("without slowCallMs, slow probes close it like any others", () => {
    const { clock, b } = halfOpen();
    const [x, y] = [permit(b), permit(b)];
    b.record(SLOW, x);
    expect(b.record(SLOW, y)).toEqual([{ from: "half_open", to: "closed", reason: "probe_success", at: clock.now }]);
  });
});

describe("slow calls (persistence)", () => {
  const config = { ...BASE, ...SLOWNESS };

  it("a JSON round trip restores the window and the total", () => {
    const { clock, b } = setup(SLOWNESS);
    for (const o of [SLOW, S, S]) b.record(o);
    const copy = new Breaker(
      config,
      () => clock.now,
      () => "p9",
      JSON.parse(JSON.stringify(b.toJSON())),
    );
    expect(copy.view()).toEqual(b.view());
    for (const x of [b, copy]) expect(x.record(SLOW)).toEqual(slowOpened());
  });

  it("switched off, the window is dropped and the total kept; a config without slowCallMs is off", () => {
    const { b } = setup(SLOWNESS);
    for (const o of [SLOW, SLOW]) b.record(o);
    const saved = JSON.parse(JSON.stringify(b.toJSON()));
    const { slowCallMs: _, ...older } = config;
    for (const off of [{ ...config, slowCallMs: null }, older as typeof config]) {
      const copy = new Breaker(
        off,
        () => T0,
        () => "p9",
        saved,
      );
      expect(copy.view()).toMatchObject({ slowCalls: 0, slowCallsTotal: 2 });
      for (let i = 0; i < 5; i++) expect(copy.record(SLOW)).toEqual([]);
      expect(copy.view()).toMatchObject({ state: "closed", slowCalls: 0, slowCallsTotal: 2 });
    }
  });

  it("data saved before slow calls were counted loads with an empty window", () => {
    const { b } = setup(SLOWNESS);
    b.record(F);
    const { slow: _, ...older } = b.toJSON();
    const copy = new Breaker(
      config,
      () => T0,
      () => "p9",
      older,
    );
    expect(copy.view()).toMatchObject({ consecutiveFailures: 1, slowCalls: 0, slowCallsTotal: 0 });
  });
});
