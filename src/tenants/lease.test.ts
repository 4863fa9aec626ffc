import { describe, expect, it } from "vitest";
import { isAsk, sliceOf } from "./lease";

describe("sliceOf: the slice policy", () => {
  it("grants what waits and up to the pace, but no more than half of what is spare", () => {
    expect(sliceOf(100, 1, 7, true)).toBe(7);
    expect(sliceOf(10, 1, 7, true)).toBe(5);
    expect(sliceOf(10, 0, 7, true)).toBe(5);
    expect(sliceOf(1, 0, 7, true)).toBe(0); // the last one waits for a request that needs it
    expect(sliceOf(1, 1, 7, true)).toBe(1);
    expect(sliceOf(0.3, 0, 1, false)).toBeCloseTo(0.15, 12);
  });

  it("grants what waiting requests need beyond the half, up to all that is spare, never more", () => {
    expect(sliceOf(10, 8, 8, true)).toBe(8);
    expect(sliceOf(4, 19, 19, true)).toBe(4);
    expect(sliceOf(0, 1, 1, true)).toBe(0);
    expect(sliceOf(-3, 1, 1, true)).toBe(0);
  });
});

describe("isAsk: a lease ask is untrusted input", () => {
  const good = {
    holder: "h",
    op: 1,
    asOf: 0,
    limits: { requestsPerMinute: 5, dailyBudgetUsd: null },
    hold: { minute: 1, requests: 0, usd: 0 },
    need: { requests: 1, usd: 0 },
    want: { requests: 1, usd: 0 },
    keepMs: 1000,
  };

  it("takes a well-formed ask", () => {
    expect(isAsk(good)).toBe(true);
  });

  it.each([
    ["no holder", { ...good, holder: "" }],
    ["a long holder", { ...good, holder: "x".repeat(65) }],
    ["a fractional op", { ...good, op: 1.5 }],
    ["a negative limit", { ...good, limits: { requestsPerMinute: -1, dailyBudgetUsd: null } }],
    ["a NaN budget", { ...good, limits: { requestsPerMinute: 5, dailyBudgetUsd: Number.NaN } }],
    ["a hold without minute", { ...good, hold: { requests: 0, usd: 0 } }],
    ["an infinite want", { ...good, want: { requests: 1, usd: Number.POSITIVE_INFINITY } }],
    ["a negative need", { ...good, need: { requests: -1, usd: 0 } }],
    ["a keep of years", { ...good, keepMs: 10 ** 12 }],
    ["null", null],
  ])("refuses %s", (_what, ask) => {
    expect(isAsk(ask)).toBe(false);
  });
});
