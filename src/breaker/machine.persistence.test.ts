import { describe, expect, it } from "vitest";
import { BASE, F, halfOpen, permit, R, S, setup, T0 } from "../../test/support/breaker-machine";
import { Breaker } from "./machine";
import type { BreakerConfig } from "./state";

describe("persistence", () => {
  const roundTrip = (b: Breaker, config: BreakerConfig, clock: { now: number }) =>
    new Breaker(
      config,
      () => clock.now,
      () => "p9",
      JSON.parse(JSON.stringify(b.toJSON())),
    );

  it("a JSON round trip restores a half-open circuit with its leases and cooling", () => {
    const { clock, b } = halfOpen();
    const id = permit(b, 4_000);
    b.record(R(null));
    const copy = roundTrip(b, BASE, clock);
    expect(copy.toJSON()).toEqual(b.toJSON());
    expect(copy.nextDeadline()).toBe(b.nextDeadline());
    for (const x of [b, copy]) expect([x.record(R(null)), x.record(S, id)]).toEqual([[], []]);
    expect(copy.view()).toEqual(b.view());
  });

  it("a JSON round trip restores the rate window", () => {
    const config = { ...BASE, trip: "rate", minimumCalls: 4 } as const;
    const { clock, b } = setup(config);
    for (const o of [S, F, F]) b.record(o);
    const copy = roundTrip(b, config, clock);
    clock.now += 1_500;
    for (const x of [b, copy])
      expect(x.record(F)).toEqual([{ from: "closed", to: "open", reason: "failure_rate", at: clock.now }]);
  });

  it("a saved rule of another kind is dropped, the rest kept", () => {
    const { b } = setup();
    for (const o of [F, F]) b.record(o);
    const copy = new Breaker(
      { ...BASE, trip: "rate" },
      () => T0,
      () => "q",
      b.toJSON(),
    );
    expect(copy.toJSON().trip).toEqual({ kind: "rate", bucketMs: 1_000, buckets: [] });
    expect(copy.view()).toEqual(b.view());
  });
});
