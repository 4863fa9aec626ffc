import { describe, expect, it } from "vitest";
import { Holding } from "./holding";
import { epochMinute, type LeaseGrant } from "./protocol";

const T0 = 1_800_000_000_000; // a minute's start
const MINUTE = epochMinute(T0);
const TERM = 1_000;
const both = { requestsPerMinute: 10, dailyBudgetUsd: 1 };
const NOTHING_UNSENT = { minute: MINUTE, requests: 0, usd: 0 };

function grant(hold: { requests: number; usd: number }, spare = { requests: 5, usd: 1 }, othersUsd = 0): LeaseGrant {
  return { op: 1, minute: MINUTE, hold, spare, othersUsd };
}

/** A holding granted 3 requests and $0.5 at T0. */
function granted(): Holding {
  const h = new Holding();
  const sent = h.held(T0, NOTHING_UNSENT);
  h.granted(sent, grant({ requests: 3, usd: 0.5 }), both, T0, TERM);
  return h;
}

describe("Holding: one isolate's share of a bucket", () => {
  it("admits against what it was granted, for a term, within the grant's minute", () => {
    const h = granted();
    expect(h.free(T0 + 10)).toEqual({ requests: 3, usd: 0.5 });
    expect(h.short(T0 + 10, both, { requests: 1, usd: 0.4 })).toBeNull();
    h.take(both, { requests: 1, usd: 0.4 });
    expect(h.short(T0 + 10, both, { requests: 1, usd: 0.2 })).toBe("usd");
    expect(h.free(T0 + TERM)).toEqual({ requests: 0, usd: 0 }); // the term is over
  });

  it("nothing is free before the first grant, and a grant's requests lapse with its minute", () => {
    const h = new Holding();
    expect(h.short(T0, both, { requests: 1, usd: 0 })).toBe("requests");
    h.granted(h.held(T0, NOTHING_UNSENT), grant({ requests: 3, usd: 0.5 }), both, T0, 120_000);
    expect(h.free(T0 + 59_999)).toEqual({ requests: 3, usd: 0.5 });
    expect(h.free(T0 + 60_000)).toEqual({ requests: 0, usd: 0.5 });
  });

  it("a charge comes off the reservation; what exceeds it comes off the free part", () => {
    const h = granted();
    h.take(both, { requests: 1, usd: 0.2 });
    h.charge(0.1, 0.1);
    expect(h.free(T0 + 1).usd).toBeCloseTo(0.3, 12);
    h.charge(0.15, 0.1); // 0.05 beyond the reservation
    expect(h.free(T0 + 1).usd).toBeCloseTo(0.25, 12);
    h.unreserve(0); // nothing left of the reservation
    expect(h.free(T0 + 1).usd).toBeCloseTo(0.25, 12);
  });

  it("asks with what it holds as the object will count it once its unsent usage lands", () => {
    const h = granted();
    h.take(both, { requests: 1, usd: 0.2 });
    h.charge(0.05, 0.05);
    // One request and $0.05 not sent yet: the object has not taken them off the lease.
    expect(h.held(T0 + 1, { minute: MINUTE, requests: 1, usd: 0.05 })).toEqual({ minute: MINUTE, requests: 3, usd: 0.5 });
  });

  it("a lapsed lease hands back its free part and keeps what requests in flight reserved", () => {
    const h = granted();
    h.take(both, { requests: 1, usd: 0.2 });
    expect(h.returnable(T0 + TERM)).toBe(true);
    expect(h.held(T0 + TERM, NOTHING_UNSENT)).toEqual({ minute: MINUTE, requests: 0, usd: 0.2 });
    expect(h.returnable(T0 + TERM)).toBe(false);
    h.unreserve(0.2); // the request ends: its reservation is free, and lapsed
    expect(h.returnable(T0 + TERM)).toBe(true);
  });

  it("applies a grant as a change to what it said it held, so usage since the ask is not lost", () => {
    const h = granted();
    const sent = h.held(T0 + 100, NOTHING_UNSENT);
    h.take(both, { requests: 1, usd: 0.1 }); // admitted while the ask was out
    h.granted(sent, { ...grant({ requests: 5, usd: 0.7 }), op: 2 }, both, T0 + 100, TERM);
    expect(h.free(T0 + 200)).toEqual({ requests: 4, usd: expect.closeTo(0.6, 12) });
    expect(h.free(T0 + 100 + TERM)).toEqual({ requests: 0, usd: 0 });
  });

  it("asks for the shortfall of what waits, and a slice of twice its pace or a sixteenth of the limit", () => {
    const h = new Holding();
    expect(h.wants(T0, both, { requests: 3, usd: 0.3 })).toEqual({
      need: { requests: 3, usd: 0.3 },
      want: { requests: 3, usd: 0.3 },
    });
    expect(h.wants(T0, { requestsPerMinute: 160, dailyBudgetUsd: 16 }, { requests: 1, usd: 0.1 }).want).toEqual({
      requests: 10,
      usd: 1,
    });
    const g = granted();
    g.take(both, { requests: 2, usd: 0.1 });
    // Nothing waits: twice the pace since the grant, less what is still free.
    expect(g.wants(T0 + 1, both, { requests: 0, usd: 0 })).toEqual({
      need: { requests: 0, usd: 0 },
      want: { requests: 3, usd: 0 },
    });
    expect(g.wants(T0 + 1, { requestsPerMinute: null, dailyBudgetUsd: null }, { requests: 5, usd: 5 }).need).toEqual({
      requests: 0,
      usd: 0,
    });
  });

  it("is exhausted on a side once the last grant left less than the request lacks", () => {
    const h = new Holding();
    h.granted(h.held(T0, NOTHING_UNSENT), grant({ requests: 0, usd: 0.05 }, { requests: 0, usd: 0.04 }, 0.3), both, T0, TERM);
    expect(h.exhausted(T0 + 1, "usd", { requests: 1, usd: 0.1 })).toBe(true);
    expect(h.exhausted(T0 + 1, "usd", { requests: 1, usd: 0.09 })).toBe(false);
    expect(h.exhausted(T0 + 1, "requests", { requests: 1, usd: 0 })).toBe(true);
    expect(h.heldUsd).toBeCloseTo(0.3, 12); // other isolates hold dollars that may come back
  });
});
