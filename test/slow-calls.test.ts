import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { objectSettings } from "../src/breaker/gate";
import { Outbox } from "../src/breaker/outbox";
import type { Report } from "../src/breaker/protocol";
import type { Outcome } from "../src/core/circuit";
import type { Batch } from "../src/core/sync-channel";
import { chat, chatBody, circuits, type GatewayUnderTest, gateway, sleep, Upstream, uniqueModel } from "./support/harness";

const TOKEN = "admin-token-for-tests-0123456789";
const SLOW_MS = 150;
/** Well above SLOW_MS, so a loaded machine cannot make a fast call look slow or the reverse. */
const DELAY_MS = 400;

/** One model of its own with slow calls on (DESIGN §18), no retries and no fallback steps. */
function setup(breaker: Record<string, unknown> = {}) {
  const up = new Upstream();
  const model = uniqueModel();
  const config = {
    models: {
      [model]: {
        breaker: {
          slowCallMs: SLOW_MS,
          minimumCalls: 3,
          windowMs: 30_000,
          openTimeoutMs: 400,
          successThreshold: 2,
          halfOpenMaxCalls: 1,
          ...breaker,
        },
      },
    },
    retry: { maxRetries: 0 },
    fallbackOrder: [],
    timeouts: { requestMs: 3_000, deadlineMs: 5_000 },
  };
  const gw = gateway(up, { config, ADMIN_TOKEN: TOKEN });
  return { up, model, gw };
}

/** Requests one after another, alternating JSON and streams; every body read to its end. */
async function send(gw: GatewayUnderTest, model: string, times: number): Promise<{ status: number; text: string }[]> {
  const out: { status: number; text: string }[] = [];
  for (let i = 0; i < times; i++) {
    const res = await chat(gw, chatBody(model, { stream: i % 2 === 1 }));
    out.push({ status: res.status, text: await res.text() });
    // Each outcome reaches the circuit before the next call: a half-open probe's slot is free again.
    await gw.settle();
  }
  return out;
}

describe("slow calls open a circuit (DESIGN §18)", () => {
  it("a slow-call rate opens it with slow_call_rate; the slow calls themselves are 200s", async () => {
    const { up, model, gw } = setup();
    const c = await circuits(gw);
    await up.fault({ model, mode: "slow_headers", delayMs: DELAY_MS });
    const answers = await send(gw, model, 3);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(JSON.parse(answers[0]?.text ?? "").object).toBe("chat.completion");
    expect(answers[1]?.text).toContain("data: [DONE]");

    const opened = await c.detail(model);
    expect(opened).toMatchObject({ state: "open", slowCalls: 0, slowCallsTotal: 3, lifetime: { successes: 3, failures: 0 } });
    expect(opened.transitions[0]).toMatchObject({ from: "closed", to: "open", reason: "slow_call_rate" });

    const skipped = await chat(gw, chatBody(model));
    expect(skipped.status).toBe(503);
    expect(((await skipped.json()) as { error: { code: string } }).error.code).toBe("circuit_open");
    expect(await up.calls(model)).toBe(3);

    const admin = { headers: { authorization: `Bearer ${TOKEN}` } };
    const circuit = (await (await gw.fetch(`/admin/circuits/${model}`, admin)).json()) as Record<string, unknown>;
    expect(circuit).toMatchObject({
      slowCalls: 0,
      slowCallsTotal: 3,
      config: { slowCallMs: SLOW_MS, slowCallRateThreshold: 0.5 },
    });
    const metrics = await (await gw.fetch("/admin/metrics", admin)).text();
    expect(metrics).toContain(`gateway_circuit_slow_calls_total{model="${model}"} 3\n`);
    await gw.settle();
  });

  it("fast calls after openTimeoutMs close it: the half-open probes succeed", async () => {
    const { up, model, gw } = setup();
    const c = await circuits(gw);
    await up.fault({ model, mode: "slow_headers", delayMs: DELAY_MS });
    await send(gw, model, 3);
    expect((await c.detail(model)).state).toBe("open");

    await up.clearFaults();
    await sleep(450);
    expect((await send(gw, model, 2)).map((a) => a.status)).toEqual([200, 200]);
    const closed = await c.detail(model);
    expect(closed).toMatchObject({ state: "closed", slowCalls: 0, slowCallsTotal: 3 });
    expect(closed.transitions.slice(0, 3).map((t) => `${t.from}>${t.to}:${t.reason}`)).toEqual([
      "half_open>closed:probe_success",
      "open>half_open:open_timeout",
      "closed>open:slow_call_rate",
    ]);
  });

  it("probes that are still slow reopen it, and their clients still get their answers", async () => {
    const { up, model, gw } = setup({ successThreshold: 1 });
    const c = await circuits(gw);
    await up.fault({ model, mode: "slow_headers", delayMs: DELAY_MS });
    await send(gw, model, 3);
    await sleep(450);
    expect((await send(gw, model, 1)).map((a) => a.status)).toEqual([200]);
    const reopened = await c.detail(model);
    expect(reopened).toMatchObject({ state: "open", slowCallsTotal: 4 });
    expect(reopened.transitions[0]).toMatchObject({ from: "half_open", to: "open", reason: "slow_call_rate" });
  });

  it("below the threshold it stays closed, and shows the slow calls in its window", async () => {
    const { up, model, gw } = setup();
    const c = await circuits(gw);
    await send(gw, model, 2);
    await up.fault({ model, mode: "slow_headers", delayMs: DELAY_MS, times: 1 });
    await send(gw, model, 2); // 1 slow of 4
    expect(await c.detail(model)).toMatchObject({ state: "closed", slowCalls: 1, slowCallsTotal: 1 });
  });

  it("slowCallMs null (the default) never opens on slowness", async () => {
    const { up, model, gw } = setup({ slowCallMs: null });
    const c = await circuits(gw);
    await up.fault({ model, mode: "slow_headers", delayMs: DELAY_MS });
    expect((await send(gw, model, 4)).map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(await c.detail(model)).toMatchObject({
      state: "closed",
      slowCalls: 0,
      slowCallsTotal: 0,
      config: { slowCallMs: null },
      lifetime: { successes: 4 },
    });
  });
});

describe("reports carry slowness", () => {
  const S: Outcome = { kind: "success" };
  const SLOW: Outcome = { kind: "success", slow: true };

  it("an isolate's outbox keeps slow successes in runs of their own, in order", () => {
    const outbox = new Outbox();
    for (const o of [S, S, SLOW, SLOW, SLOW, S]) outbox.add(o, null);
    expect(outbox.take()?.outcomes).toEqual([
      { outcome: S, n: 2, permitId: null },
      { outcome: SLOW, n: 3, permitId: null },
      { outcome: S, n: 1, permitId: null },
    ]);
  });

  it("the object applies a slow run, and drops one whose slowness is no `true`", async () => {
    const { model, gw } = setup();
    const c = await circuits(gw);
    const config = c.settings.config.models.get(model);
    if (!config) throw new Error("no model");
    const settings = objectSettings(config, c.settings);
    const stub = env.BREAKERS.getByName(model);
    const batch = (outcomes: unknown[]) => ({ id: crypto.randomUUID(), data: { outcomes, deltas: {} } }) as Batch<Report>;
    const bad = [{ outcome: { kind: "success", slow: "yes" }, n: 3, permitId: null }];
    await stub.sync({ settings, reports: [batch(bad)], permits: [] });
    expect(await c.detail(model)).toMatchObject({ state: "closed", slowCallsTotal: 0, lifetime: { successes: 0 } });
    const drops = await c.series(model);
    expect(drops[`gateway_breaker_report_drops_total{model="${model}",part="outcome"}`]).toBe(1);

    const good = [
      { outcome: { kind: "success", slow: false }, n: 1, permitId: null },
      { outcome: { kind: "success", slow: true }, n: 2, permitId: null },
    ];
    const res = await stub.sync({ settings, reports: [batch(good)], permits: [] });
    expect(res.snapshot.state).toBe("open");
    expect(await c.detail(model)).toMatchObject({ slowCallsTotal: 2, lifetime: { successes: 3 } });
  });
});
