import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Batch } from "../src/core/sync-channel";
import { UsageChannel, type UsageSync } from "../src/tenants/channel";
import { TenantGuard } from "../src/tenants/guard";
import { epochMinute, type LeaseAsk, type UsageDelta } from "../src/tenants/protocol";
import { sleep } from "./support/harness";

/** The usage object's side of DESIGN §13's leases, asked directly as isolates ask it. */
function bucket() {
  return env.TENANTS.getByName(`tenant:t-${crypto.randomUUID().slice(0, 8)}`);
}

function ask(holder: string, op: number, over: Partial<LeaseAsk> = {}): LeaseAsk {
  return {
    holder,
    op,
    asOf: 0,
    limits: { requestsPerMinute: 20, dailyBudgetUsd: 1 },
    hold: { minute: epochMinute(Date.now()), requests: 0, usd: 0 },
    need: { requests: 3, usd: 0.15 },
    want: { requests: 3, usd: 0.15 },
    keepMs: 60_000,
    ...over,
  };
}

const batch = (data: UsageDelta): Batch<UsageDelta> => ({ id: crypto.randomUUID(), data });

describe("the usage object's leases", () => {
  it("however many isolates ask, what they hold and what was used never exceeds a limit", async () => {
    const stub = bucket();
    const grants = await Promise.all(Array.from({ length: 12 }, (_, i) => stub.sync([], "kept", ask(`h${i}`, 1))));
    const held = grants.map((g) => g.lease?.hold ?? { requests: 0, usd: 0 });
    expect(held.reduce((n, h) => n + h.requests, 0)).toBe(20);
    expect(held.reduce((n, h) => n + h.usd, 0)).toBeLessThanOrEqual(1 + 1e-12);
    expect(held.filter((h) => h.requests === 3).length).toBe(6); // first come, first served: the rest split what is left
    // Used requests stay counted when their lease is handed back.
    await stub.sync(
      [batch({ requests: 3, spendUsd: 0.1, holder: "h0", seq: 1 })],
      "kept",
      ask("h0", 2, { asOf: 1, need: { requests: 0, usd: 0 }, want: { requests: 0, usd: 0 } }),
    );
    const again = await stub.sync([], "kept", ask("late", 1));
    expect(again.lease?.hold.requests).toBe(0);
    expect(again.lease?.spare.requests).toBe(0);
  });

  it("an ask older than the holder's last is not answered and changes nothing", async () => {
    const stub = bucket();
    const newer = await stub.sync([], "kept", ask("h", 2, { need: { requests: 5, usd: 0 }, want: { requests: 5, usd: 0 } }));
    expect(newer.lease?.hold.requests).toBe(5);
    const stale = await stub.sync([], "kept", ask("h", 1));
    expect(stale.lease).toBeNull();
    const other = await stub.sync([], "kept", ask("o", 1, { need: { requests: 20, usd: 0 }, want: { requests: 20, usd: 0 } }));
    expect(other.lease?.hold.requests).toBe(15);
  });

  it("usage a lease already reflected is not taken off it again; later usage is", async () => {
    const stub = bucket();
    const minute = epochMinute(Date.now());
    await stub.sync([], "kept", ask("h", 1, { need: { requests: 6, usd: 0.5 }, want: { requests: 6, usd: 0.5 } }));
    // Batch 1 was in the hold of ask 2 (asOf 1): applied late, it counts as use, and the lease stays.
    const two = ask("h", 2, {
      asOf: 1,
      hold: { minute, requests: 4, usd: 0.4 },
      need: { requests: 0, usd: 0 },
      want: { requests: 0, usd: 0 },
    });
    await stub.sync([], "kept", two);
    await stub.sync([batch({ requests: 2, spendUsd: 0.1, minute, holder: "h", seq: 1 })]);
    // Batch 2 came after: it comes off the lease.
    const view = await stub.sync([batch({ requests: 1, spendUsd: 0.1, minute, holder: "h", seq: 2 })]);
    expect(view).toMatchObject({ minuteRequests: 3 });
    const other = await stub.sync([], "kept", ask("o", 1, { need: { requests: 20, usd: 1 }, want: { requests: 20, usd: 1 } }));
    expect(other.lease?.hold.requests).toBe(20 - 3 - 3);
    expect(other.lease?.hold.usd).toBeCloseTo(1 - 0.2 - 0.3, 12);
  });

  it("requests of a minute that is over count in the day only", async () => {
    const stub = bucket();
    const now = epochMinute(Date.now());
    const view = await stub.sync([
      batch({ requests: 2, earlierRequests: 5, spendUsd: 0, minute: now }),
      batch({ requests: 4, spendUsd: 0, minute: now - 1 }),
    ]);
    expect(view).toMatchObject({ minuteRequests: 2, dayRequests: 11 });
  });

  it("a holder not heard from within its keepMs loses its dollars to the others", async () => {
    const stub = bucket();
    const limits = { requestsPerMinute: null, dailyBudgetUsd: 1 };
    const first = await stub.sync(
      [],
      "kept",
      ask("gone", 1, { limits, keepMs: 100, need: { requests: 0, usd: 1 }, want: { requests: 0, usd: 1 } }),
    );
    expect(first.lease?.hold.usd).toBe(1);
    const meanwhile = await stub.sync([], "kept", ask("next", 1, { limits }));
    expect(meanwhile.lease?.hold.usd).toBe(0);
    expect(meanwhile.lease?.othersUsd).toBe(1);
    await sleep(150);
    const later = await stub.sync([], "kept", ask("next", 2, { limits }));
    expect(later.lease?.hold.usd).toBeCloseTo(0.15, 12);
  });

  it("a malformed ask gets no lease and is counted as a dropped report", async () => {
    const stub = bucket();
    const answer = await stub.sync([], "kept", { ...ask("h", 1), want: { requests: 1, usd: -1 } });
    expect(answer.lease).toBeNull();
    expect((await stub.drops()).report).toBe(1);
  });
});

describe("an isolate's lease while its reports cannot get through", () => {
  it("usage queued again after failed calls stays held by its lease until it lands, so no other isolate is granted it", async () => {
    const name = `tenant:t-${crypto.randomUUID().slice(0, 8)}`;
    const stub = env.TENANTS.getByName(name);
    let choke = true;
    // The object refuses every call that carries reports (as a report it chokes on would), and
    // answers a call without any: after two failures the channel sends one of those.
    const sync: UsageSync = (batches, lifetime, leaseAsk) =>
      choke && batches.length > 0 ? Promise.reject(new Error("injected failure")) : stub.sync(batches, lifetime, leaseAsk);
    const ch = new UsageChannel(sync, name);
    ch.terms = { limits: { requestsPerMinute: null, dailyBudgetUsd: 1 }, termMs: 60_000, keepMs: 60_000 };
    ch.add(1, 0.6);
    await ch.flush(); // fails: the batch is queued again
    await ch.flush(); // fails again: the next call goes without reports
    await ch.flush(); // a bare call, with a lease ask
    const other = await stub.sync(
      [],
      "kept",
      ask("other", 1, {
        limits: { requestsPerMinute: null, dailyBudgetUsd: 1 },
        need: { requests: 0, usd: 1 },
        want: { requests: 0, usd: 1 },
      }),
    );
    expect(other.lease?.hold.usd).toBeLessThanOrEqual(0.4 + 1e-9);
    // Once the batch lands, it is counted once: used, and no longer held.
    choke = false;
    await ch.flush();
    const view = await stub.sync([], "kept");
    expect(view.daySpendUsd).toBeCloseTo(0.6, 9);
    const late = await stub.sync(
      [],
      "kept",
      ask("late", 1, {
        limits: { requestsPerMinute: null, dailyBudgetUsd: 1 },
        need: { requests: 0, usd: 1 },
        want: { requests: 0, usd: 1 },
      }),
    );
    expect(late.lease?.hold.usd ?? 0).toBeLessThanOrEqual(1e-9);
  });
});

describe("an isolate's first request for a bucket", () => {
  it("is not refused because the call in flight when it came was sent before its limits were known", async () => {
    const name = `tenant:t-${crypto.randomUUID().slice(0, 8)}`;
    const stub = env.TENANTS.getByName(name);
    // A call without a lease ask (a report flushed before any request of this bucket was
    // admitted here: an IP's tally, say) takes a while to come back.
    const sync: UsageSync = async (batches, lifetime, leaseAsk) => {
      if (leaseAsk === undefined) await sleep(100);
      return stub.sync(batches, lifetime, leaseAsk);
    };
    const ch = new UsageChannel(sync, name);
    ch.add(0, 0.01);
    const inFlight = ch.flush();
    const guard = new TenantGuard(
      () => ch,
      { ttlMs: 50, termMs: 500, keepMs: 60_000 },
      () => {},
    );
    const bucket = { kind: "tenant" as const, name, requestsPerMinute: 10, dailyBudgetUsd: null };
    const spend = await guard.admit([bucket], 0);
    spend.release();
    await inFlight;
  });
});
