import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ModelChannel, type Sync } from "../src/breaker/channel";
import { BreakerGate, objectSettings } from "../src/breaker/gate";
import type { SyncRequest } from "../src/breaker/protocol";
import { UsageChannel } from "../src/tenants/channel";
import { circuits, gateway, sleep, Upstream, uniqueModel } from "./support/harness";

/** A model of its own, its Durable Object's settings and a gate over a channel with the given line. */
async function line(breaker: Record<string, unknown> = {}) {
  const model = uniqueModel();
  const gw = gateway(new Upstream(), { config: { models: { [model]: { breaker } } } });
  const c = await circuits(gw);
  const config = c.settings.config.models.get(model)!;
  const stub = env.BREAKERS.getByName(model);
  const real: Sync = (req) => stub.sync(req);
  return { model, c, config, settings: c.settings, objectSettings: objectSettings(config, c.settings), real };
}

const F = { kind: "failure", reason: "server_error" } as const;

describe("one isolate's line to a Durable Object", () => {
  it("a report whose answer was lost goes again under its id and is applied once", async () => {
    const { model, c, objectSettings: settings, real } = await line({ failureThreshold: 2 });
    const ids: string[][] = [];
    let calls = 0;
    const lossy: Sync = async (req) => {
      ids.push(req.reports.map((b) => b.id));
      const res = await real(req);
      if (++calls === 1) throw new Error("the answer was lost on the way back");
      return res;
    };
    const ch = new ModelChannel(lossy, settings);
    await ch.report(F, null, 50); // a failure goes at once
    await sleep(1_100); // past the backoff after a failed call
    await ch.flush();
    expect(ids).toHaveLength(2);
    expect(ids[1]?.[0]).toBe(ids[0]?.[0]);
    const detail = await c.detail(model);
    expect(detail.lifetime.failures).toBe(1);
    expect(detail.state).toBe("closed");
    // The failed call was counted, and the count itself arrived.
    const series = await c.series(model);
    expect(series[`gateway_breaker_object_errors_total{model="${model}",kind="error"}`]).toBe(1);
  });

  it("when every report fails, the isolate still asks the object and stops trusting its old closed view", async () => {
    const { model, c, config, settings, objectSettings: s, real } = await line();
    const sent: SyncRequest[] = [];
    // The object chokes on this isolate's reports, whatever they say, but answers a bare ask.
    const choking: Sync = (req) => {
      sent.push(req);
      return req.reports.length > 0 ? Promise.reject(new Error("NOT NULL constraint failed")) : real(req);
    };
    const ch = new ModelChannel(choking, s);
    const gate = new BreakerGate(
      () => ch,
      settings.config.snapshotTtlMs,
      () => {},
    );
    const first = await gate.run(config, { stream: false, deadlineAt: Date.now() + 5_000 }, async () => ({
      value: null,
      outcome: F,
    }));
    expect(first.admitted).toBe(true); // learns "closed"
    if (first.admitted) await first.reported;
    await c.forceOpen(model, "maintenance", null);
    const decisions = [];
    for (let i = 0; i < 3; i++) {
      await sleep(1_100); // past the backoff, and far past 2 × snapshotTtlMs
      // An admitted run that calls nothing reports nothing: only the decision is observed.
      decisions.push(
        (await gate.run(config, { stream: false, deadlineAt: Date.now() + 5_000 }, async () => ({ value: null, outcome: null })))
          .decision,
      );
    }
    expect(decisions.at(-1)).toMatchObject({ admitted: false, reason: "forced_open" });
    expect(sent.slice(1).some((req) => req.reports.length === 0)).toBe(true); // a bare ask after the reports failed
  });

  it("a tenant's usage that is no amount is dropped; the object stays finite", async () => {
    const bucket = `tenant:t-${crypto.randomUUID().slice(0, 8)}`;
    const stub = env.TENANTS.getByName(bucket);
    const ch = new UsageChannel((batches) => stub.sync(batches), bucket);
    ch.add(1, Number.NaN);
    ch.add(1, 0.5);
    ch.add(Number.POSITIVE_INFINITY, -1);
    await ch.refresh();
    expect(ch.view()).toMatchObject({ dayRequests: 2, daySpendUsd: 0.5 });
    const view = await stub.sync([]);
    expect(view.dayRequests).toBe(2);
    expect(view.daySpendUsd).toBe(0.5);
  });

  it("a tenant's usage whose answer was lost is counted once", async () => {
    const bucket = `tenant:t-${crypto.randomUUID().slice(0, 8)}`;
    const stub = env.TENANTS.getByName(bucket);
    let calls = 0;
    const ch = new UsageChannel(async (batches) => {
      const view = await stub.sync(batches);
      if (++calls === 1) throw new Error("the answer was lost on the way back");
      return view;
    }, bucket);
    ch.add(3, 0.3);
    await ch.refresh(); // applied, but the answer was lost: the batch is sent again
    await ch.flush();
    expect(ch.view()).toMatchObject({ dayRequests: 3 });
    expect((await stub.sync([])).dayRequests).toBe(3);
  });
});
