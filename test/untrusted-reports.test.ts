import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { objectSettings } from "../src/breaker/gate";
import type { Report } from "../src/breaker/protocol";
import type { Batch } from "../src/core/sync-channel";
import type { UsageDelta } from "../src/tenants/protocol";
import { chat, chatBody, circuits, gateway, Upstream, uniqueModel } from "./support/harness";

describe("a provider's odd usage object never breaks later reports (DESIGN §12)", () => {
  it("usage with only total_tokens: later outcomes apply once each, the circuit still opens and the isolate sees it", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
    const key = `gk-${crypto.randomUUID()}`;
    const config = {
      models: { [model]: { breaker: { failureThreshold: 1, openTimeoutMs: 60_000 }, priceUsdPerMTok: 8 } },
      retry: { maxRetries: 0 },
      fallbackOrder: [],
      tenants: { default: { requestsPerMinute: null }, ip: { requestsPerMinute: null }, [tenant]: { dailyBudgetUsd: 100 } },
    };
    const gw = gateway(up, { config, CLIENT_KEYS: `${tenant}:${key}` });
    const headers = { authorization: `Bearer ${key}` };
    await up.fault({ model, mode: "ok", usage: { total_tokens: 10 }, times: 1 });
    for (const stream of [false, true, false, true]) {
      const res = await chat(gw, chatBody(model, { stream }), headers);
      expect(res.status).toBe(200);
      await res.text();
      await gw.settle();
    }
    const c = await circuits(gw);
    const detail = await c.detail(model);
    expect(detail.lifetime.successes).toBe(4);
    const series = await c.series(model);
    for (const [name, value] of Object.entries(series)) expect(Number.isFinite(value), name).toBe(true);
    const requests = Object.entries(series).filter(([name]) => name.startsWith("gateway_requests_total"));
    expect(requests.reduce((n, [, v]) => n + v, 0)).toBe(4);

    // A failure still reaches the object, and the isolate hears the circuit open.
    await up.fault({ model, mode: "status", status: 503, times: 1 });
    const failed = await chat(gw, chatBody(model), headers);
    expect(failed.status).toBe(502);
    await gw.settle();
    expect((await c.detail(model)).state).toBe("open");
    const skipped = await chat(gw, chatBody(model), headers);
    expect(skipped.status).toBe(503);
    await gw.settle();
    expect((await c.detail(model)).lifetime.successes).toBe(4);

    // The tenant's usage object kept every request and a finite spend.
    const usage = await env.TENANTS.getByName(`tenant:${tenant}`).sync([]);
    expect(usage.dayRequests).toBe(6);
    expect(Number.isFinite(usage.daySpendUsd)).toBe(true);
    expect(usage.daySpendUsd).toBeGreaterThan(0);
  });
});

/** The object's settings for a model of its own, as an isolate would send them. */
async function objectSettingsFor(breaker: Record<string, unknown> = {}) {
  const model = uniqueModel();
  const gw = gateway(new Upstream(), { config: { models: { [model]: { breaker } } } });
  const c = await circuits(gw);
  const config = c.settings.config.models.get(model)!;
  return { model, c, settings: objectSettings(config, c.settings) };
}

/** A batch as it may arrive from a buggy or hostile isolate: anything at all. */
const untrusted = (v: unknown) => v as Batch<Report>;

describe("the breaker object takes reports as untrusted input", () => {
  it("drops the bad parts of a report (logged, counted), applies the good ones, and the next report still applies", async () => {
    const { model, c, settings } = await objectSettingsFor({ failureThreshold: 5 });
    const stub = env.BREAKERS.getByName(model);
    const good = `gateway_local_skips_total{model="${model}",reason="open"}`;
    const bad = {
      id: crypto.randomUUID(),
      data: {
        outcomes: [
          { outcome: { kind: "success" }, n: 2, permitId: null },
          { outcome: { kind: "failure" }, n: 1, permitId: null },
          { outcome: { kind: "success" }, n: -1, permitId: null },
          { outcome: { kind: "success" }, n: Number.NaN, permitId: null },
          { outcome: { kind: "explode" }, n: 1, permitId: null },
          { outcome: { kind: "rate_limited", retryAfterMs: Number.NaN }, n: 1, permitId: null },
          "nonsense",
        ],
        deltas: { [good]: 3, nan: Number.NaN, negative: -1, infinite: Number.POSITIVE_INFINITY, text: "5", nothing: null },
      },
    };
    const garbage = [null, 42, { data: { outcomes: [], deltas: {} } }, { id: crypto.randomUUID(), data: "x" }];
    const res = await stub.sync({ settings, reports: [untrusted(bad), ...garbage.map(untrusted)], permits: [] });
    expect(res.snapshot.state).toBe("closed");
    let detail = await c.detail(model);
    expect(detail.lifetime.successes).toBe(2);
    expect(detail.lifetime.failures).toBe(0);
    let series = await stub.series();
    expect(series[good]).toBe(3);
    const drops = (part: string) => series[`gateway_breaker_report_drops_total{model="${model}",part="${part}"}`];
    expect(drops("outcome")).toBe(6);
    expect(drops("delta")).toBe(5);
    expect(drops("report")).toBe(4);
    for (const value of Object.values(series)) expect(Number.isFinite(value)).toBe(true);

    const next = { outcomes: [{ outcome: { kind: "success" } as const, n: 1, permitId: null }], deltas: { [good]: 1 } };
    await stub.sync({ settings, reports: [{ id: crypto.randomUUID(), data: next }], permits: [] });
    detail = await c.detail(model);
    expect(detail.lifetime.successes).toBe(3);
    series = await stub.series();
    expect(series[good]).toBe(4);
  });

  it("applies a report sent twice under the same id once, in one call or two", async () => {
    const { model, c, settings } = await objectSettingsFor({ failureThreshold: 2 });
    const stub = env.BREAKERS.getByName(model);
    const F = { kind: "failure", reason: "server_error" } as const;
    const once: Batch<Report> = {
      id: crypto.randomUUID(),
      data: { outcomes: [{ outcome: F, n: 1, permitId: null }], deltas: { x: 1 } },
    };
    await stub.sync({ settings, reports: [once, once], permits: [] });
    const again = await stub.sync({ settings, reports: [once], permits: [] });
    expect(again.snapshot.state).toBe("closed"); // two failures would have tripped it
    const detail = await c.detail(model);
    expect(detail.lifetime.failures).toBe(1);
    const series = await stub.series();
    expect(series.x).toBe(1);
    expect(series[`gateway_breaker_report_drops_total{model="${model}",part="duplicate"}`]).toBe(2);
  });
});

describe("the tenant usage object takes reports as untrusted input", () => {
  it("drops what is no amount, applies the rest once, and the next report still applies", async () => {
    const stub = env.TENANTS.getByName(`tenant:t-${crypto.randomUUID().slice(0, 8)}`);
    const first = { id: crypto.randomUUID(), data: { requests: 2, spendUsd: Number.NaN } };
    const batches = [
      first,
      { id: crypto.randomUUID(), data: { requests: -1, spendUsd: 0.25 } },
      { id: crypto.randomUUID(), data: { requests: 1.5, spendUsd: "0.1" } },
      { data: { requests: 5, spendUsd: 5 } },
      null,
      first,
    ];
    const view = await stub.sync(batches as Batch<UsageDelta>[]);
    expect(view.dayRequests).toBe(2);
    expect(view.daySpendUsd).toBe(0.25);
    expect(await stub.drops()).toEqual({ report: 2, duplicate: 1, requests: 2, spend: 2 });
    const later = await stub.sync([first, { id: crypto.randomUUID(), data: { requests: 1, spendUsd: 0.5 } }]);
    expect(later.dayRequests).toBe(3);
    expect(later.daySpendUsd).toBe(0.75);
  });
});
