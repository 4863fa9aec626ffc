import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BreakerObject } from "../src/breaker/object";
import type { Report } from "../src/breaker/protocol";
import type { Batch } from "../src/core/sync-channel";
import { OBJECT_CALL_TIMEOUT_MS } from "../src/core/time";
import { injectBreakerFault } from "./support/breaker-faults";
import {
  chat,
  chatBody,
  circuits,
  eventually,
  type GatewayUnderTest,
  gateway,
  sleep,
  Upstream,
  uniqueModel,
} from "./support/harness";

function setup(breaker: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const up = new Upstream();
  const model = uniqueModel();
  // No fallback steps: these tests watch the requested model's own circuit decide the answer.
  const config = {
    models: { [model]: { breaker, ...(extra.model as object) } },
    retry: { maxRetries: 0 },
    fallbackOrder: [],
    ...extra,
  };
  delete (config as Record<string, unknown>).model;
  return { up, model, config, gw: gateway(up, { config }) };
}

/** A report batch as an isolate sends it, with an id of its own. */
function batch(data: Report): Batch<Report> {
  return { id: crypto.randomUUID(), data };
}

async function fail(gw: GatewayUnderTest, model: string, times: number) {
  for (let i = 0; i < times; i++) {
    const res = await chat(gw, chatBody(model));
    await res.body?.cancel();
  }
  await gw.settle();
}

/** The phase as stored in SQLite, read without running the machine (so nothing ticks it). */
async function storedState(model: string): Promise<string> {
  const stub = env.BREAKERS.getByName(model);
  return runInDurableObject(stub, (_obj: BreakerObject, state) => {
    const row = state.storage.sql.exec<{ data: string }>("SELECT data FROM state").one();
    return (JSON.parse(row.data) as { phase: { state: string } }).phase.state;
  });
}

describe("one circuit breaker per model", () => {
  it("opens after failureThreshold consecutive 5xx; then skips the upstream with 503 circuit_open and Retry-After", async () => {
    const { up, model, gw } = setup({ failureThreshold: 3, openTimeoutMs: 30_000 });
    await up.fault({ model: "*", mode: "status", status: 503 });
    await fail(gw, model, 3);
    expect(await up.calls(model)).toBe(3);
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { code: string; type: string } };
    expect(body.error.code).toBe("circuit_open");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(29);
    expect(Number(res.headers.get("retry-after"))).toBeLessThanOrEqual(30);
    expect(Number(res.headers.get("retry-after-ms"))).toBeGreaterThan(28_000);
    expect(res.headers.get("x-gateway-circuit")).toBe("open");
    expect(await up.calls(model)).toBe(3);
    const c = await circuits(gw);
    expect((await c.detail(model)).state).toBe("open");
  });

  it("is strictly per model: one model's open circuit does not touch another's", async () => {
    const up = new Upstream();
    const sick = uniqueModel();
    const healthy = uniqueModel("deepseek-v3.2");
    const gw = gateway(up, {
      config: {
        models: { [sick]: { breaker: { failureThreshold: 2 } }, [healthy]: {} },
        retry: { maxRetries: 0 },
        fallbackOrder: [],
      },
    });
    await up.fault({ model: sick, mode: "status", status: 500 });
    await fail(gw, sick, 2);
    expect((await chat(gw, chatBody(sick))).status).toBe(503);
    const ok = await chat(gw, chatBody(healthy));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-gateway-circuit")).toBe("closed");
    await gw.settle();
  });

  it("after openTimeoutMs, half_open admits exactly halfOpenMaxCalls concurrent probes", async () => {
    const { up, model, gw } = setup({ failureThreshold: 1, openTimeoutMs: 150, halfOpenMaxCalls: 2 });
    await up.fault({ model: "*", mode: "status", status: 503, times: 1 });
    await fail(gw, model, 1);
    await sleep(200);
    await up.fault({ model: "*", mode: "slow_headers", delayMs: 300 });
    const before = await up.calls(model);
    const responses = await Promise.all(Array.from({ length: 10 }, () => chat(gw, chatBody(model))));
    const statuses = responses.map((r) => r.status);
    await Promise.all(responses.map((r) => r.body?.cancel()));
    expect((await up.calls(model)) - before).toBe(2);
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 503)).toHaveLength(8);
    expect((await up.stats()).maxInFlight[model]).toBe(2);
    await gw.settle();
  });

  it("closes after successThreshold probe successes; a probe failure reopens with a fresh timer and no stale successes", async () => {
    const { up, model, gw } = setup({ failureThreshold: 1, openTimeoutMs: 150, successThreshold: 2, halfOpenMaxCalls: 1 });
    const c = await circuits(gw);
    await up.fault({ model: "*", mode: "status", status: 503, times: 1 });
    await fail(gw, model, 1);
    await sleep(200);
    expect((await chat(gw, chatBody(model))).status).toBe(200); // probe success 1 of 2
    await gw.settle();
    expect((await c.detail(model)).halfOpenSuccesses).toBe(1);

    await up.fault({ model: "*", mode: "status", status: 503, times: 1 });
    const reopenedAt = Date.now();
    await fail(gw, model, 1); // probe failure
    const reopened = await c.detail(model);
    expect(reopened.state).toBe("open");
    expect(reopened.halfOpenSuccesses).toBe(0);
    expect(reopened.nextAttemptAt).toBeGreaterThanOrEqual(reopenedAt + 150);

    await sleep(200);
    expect((await chat(gw, chatBody(model))).status).toBe(200);
    await gw.settle();
    // With the tutorial's bug the stale success would make this one close the circuit already.
    expect((await c.detail(model)).state).toBe("half_open");
    expect((await chat(gw, chatBody(model))).status).toBe(200);
    await gw.settle();
    const closed = await c.detail(model);
    expect(closed.state).toBe("closed");
    expect(closed.transitions.slice(0, 5).map((t) => `${t.from}>${t.to}`)).toEqual([
      "half_open>closed",
      "open>half_open",
      "half_open>open",
      "open>half_open",
      "closed>open",
    ]);
  });

  it("a probe whose outcome is lost does not wedge the circuit: its lease expires", async () => {
    const { up, model, gw } = setup({ failureThreshold: 1, openTimeoutMs: 100, halfOpenMaxCalls: 1 });
    const c = await circuits(gw);
    await up.fault({ model: "*", mode: "status", status: 503, times: 1 });
    await fail(gw, model, 1);
    await sleep(150);
    // An isolate takes the only probe permit and dies before reporting.
    const settings = {
      model,
      config: { ...c.settings.config.models.get(model)!.breaker, coolingMaxMs: 60_000 },
      alertWebhookUrl: null,
    };
    const lost = await env.BREAKERS.getByName(model).sync({ settings, reports: [], permits: [200] });
    expect(lost.grants[0]?.kind).toBe("admitted");
    const denied = await chat(gw, chatBody(model));
    expect(denied.status).toBe(503);
    await denied.body?.cancel();
    await sleep(250);
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    await gw.settle();
    expect((await c.detail(model)).lifetime.expiredLeases).toBe(1);
  });

  it("a permit the Durable Object grants after the waiter gave up is handed back at once", async () => {
    const { up, model, gw } = setup({ failureThreshold: 1, openTimeoutMs: 100, halfOpenMaxCalls: 1 });
    const c = await circuits(gw);
    await up.fault({ model: "*", mode: "status", status: 503, times: 1 });
    await fail(gw, model, 1);
    await sleep(150);
    // The object is slow: it answers only after the isolate stopped waiting for the permit.
    const stub = env.BREAKERS.getByName(model);
    const slow = runInDurableObject(stub, (_obj: BreakerObject, state) =>
      state.blockConcurrencyWhile(() => sleep(OBJECT_CALL_TIMEOUT_MS + 500)),
    );
    await sleep(20);
    const started = Date.now();
    const res = await chat(gw, chatBody(model));
    expect(Date.now() - started).toBeLessThan(OBJECT_CALL_TIMEOUT_MS + 400);
    expect(res.status).toBe(503);
    await res.body?.cancel();
    await slow;
    // Without the hand-back the slot would stay reserved for the lease (requestMs + 5 s).
    await eventually(async () => (await c.detail(model)).halfOpenInFlight === 0, 1000);
    const next = await chat(gw, chatBody(model));
    expect(next.status).toBe(200);
    await next.body?.cancel();
    await gw.settle();
  });

  it("a probe whose client went away after commit is a success and releases its permit at once (DESIGN §12)", async () => {
    const { up, model, gw } = setup({ failureThreshold: 1, openTimeoutMs: 100, halfOpenMaxCalls: 1 });
    await up.fault({ model: "*", mode: "status", status: 503, times: 1 });
    await fail(gw, model, 1);
    await sleep(150);
    await up.fault({ model: "*", mode: "slow_chunks", delayMs: 200, times: 1 });
    const probe = await chat(gw, chatBody(model, { stream: true }));
    expect(probe.status).toBe(200);
    const reader = probe.body!.getReader();
    await reader.read();
    await reader.cancel();
    await gw.settle();
    const c = await circuits(gw);
    await eventually(async () => (await c.detail(model)).halfOpenInFlight === 0);
    const detail = await c.detail(model);
    expect(detail.state).toBe("half_open");
    expect(detail.lifetime.clientAborts).toBe(0);
    expect(detail.lifetime.successes).toBe(1);
    expect(detail.lifetime.failures).toBe(1);
    const next = await chat(gw, chatBody(model));
    expect(next.status).toBe(200);
    await gw.settle();
  });

  it("a healthy streaming probe longer than requestMs keeps its lease; no extra probe is admitted", async () => {
    const { up, model, gw } = setup(
      { failureThreshold: 1, openTimeoutMs: 100, halfOpenMaxCalls: 1, successThreshold: 1 },
      { model: { timeouts: { requestMs: 150, streamIdleMs: 1000, streamTotalMs: 5000 } } },
    );
    await up.fault({ model: "*", mode: "status", status: 503, times: 1 });
    await fail(gw, model, 1);
    await sleep(150);
    await up.fault({ model: "*", mode: "slow_chunks", delayMs: 60, times: 1 });
    const probe = await chat(gw, chatBody(model, { stream: true }));
    const reader = probe.body!.getReader();
    await reader.read();
    await sleep(250); // past requestMs, still streaming
    const other = await chat(gw, chatBody(model));
    expect(other.status).toBe(503);
    await other.body?.cancel();
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text.trim().endsWith("data: [DONE]")).toBe(true);
    await gw.settle();
    expect((await (await circuits(gw)).detail(model)).state).toBe("closed");
  });

  it("never counts 400/404/413/422, 401/403 or client aborts as failures", async () => {
    const { up, model, gw, config } = setup({ failureThreshold: 2 });
    for (const status of [400, 404, 413, 422, 401, 403]) {
      await up.fault({ model: "*", mode: "status", status, times: 1 });
      // A fresh isolate each time: a refused key is set aside in the isolate that saw it.
      const isolate = gateway(up, { config });
      const res = await chat(isolate, chatBody(model));
      expect(res.status).toBe(status === 401 || status === 403 ? 502 : status);
      await res.body?.cancel();
      await isolate.settle();
    }
    const detail = await (await circuits(gw)).detail(model);
    expect(detail.state).toBe("closed");
    expect(detail.lifetime.failures).toBe(0);
    expect(detail.lifetime.ignored).toBe(6);
  });

  it("429 is not a failure: the model cools until Retry-After, and a second isolate sees it", async () => {
    const { up, model, gw, config } = setup({ failureThreshold: 1 });
    // Longer than retry.waitOnRetryAfterMs, so the chain does not wait it out.
    await up.fault({ model: "*", mode: "status", status: 429, retryAfter: "3", times: 1 });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("3");
    await gw.settle();
    const detail = await (await circuits(gw)).detail(model);
    expect(detail.state).toBe("closed");
    expect(detail.lifetime.failures).toBe(0);
    expect(detail.coolingUntil).toBeGreaterThan(Date.now() + 1000);

    const other = gateway(up, { config });
    const cooled = await chat(other, chatBody(model));
    expect(cooled.status).toBe(429);
    expect(((await cooled.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
    expect(Number(cooled.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await up.calls(model)).toBe(1);
    await other.settle();
  });

  it("keeps the order of batched outcomes: S, F, F, S, F never trips a threshold of 3", async () => {
    const { model, gw } = setup({ failureThreshold: 3 });
    const c = await circuits(gw);
    const settings = {
      model,
      config: { ...c.settings.config.models.get(model)!.breaker, coolingMaxMs: 60_000 },
      alertWebhookUrl: null,
    };
    const S = { kind: "success" } as const;
    const F = { kind: "failure", reason: "server_error" } as const;
    const outcomes = [S, F, F, S, F].map((outcome) => ({ outcome, n: 1, permitId: null }));
    const res = await env.BREAKERS.getByName(model).sync({ settings, reports: [batch({ outcomes, deltas: {} })], permits: [] });
    expect(res.snapshot.state).toBe("closed");
    expect((await c.detail(model)).consecutiveFailures).toBe(1);
    const more = [{ outcome: F, n: 2, permitId: null }];
    const tripped = await env.BREAKERS.getByName(model).sync({
      settings,
      reports: [batch({ outcomes: more, deltas: {} })],
      permits: [],
    });
    expect(tripped.snapshot.state).toBe("open");
  });

  it("the rate rule trips at its ratio only once minimumCalls outcomes were seen", async () => {
    const { model, gw } = setup({ trip: "rate", failureRateThreshold: 0.5, minimumCalls: 10, windowMs: 60_000 });
    const c = await circuits(gw);
    const settings = {
      model,
      config: { ...c.settings.config.models.get(model)!.breaker, coolingMaxMs: 60_000 },
      alertWebhookUrl: null,
    };
    const stub = env.BREAKERS.getByName(model);
    const F = { kind: "failure", reason: "server_error" } as const;
    const S = { kind: "success" } as const;
    const sync = (outcome: typeof F | typeof S, n: number) =>
      stub.sync({ settings, reports: [batch({ outcomes: [{ outcome, n, permitId: null }], deltas: {} })], permits: [] });
    expect((await sync(F, 9)).snapshot.state).toBe("closed"); // 100 % failures but below minimumCalls
    expect((await sync(S, 10)).snapshot.state).toBe("closed"); // 9/19 < 50 %
    expect((await sync(F, 1)).snapshot.state).toBe("open"); // 10/20 = 50 %
  });
});

describe("the shared circuit across isolates", () => {
  it("an isolate stops admitting within 2 × snapshotTtlMs (+ one refresh) of a circuit opening elsewhere", async () => {
    const ttl = 200;
    const { up, model, config } = setup({ failureThreshold: 2 }, { snapshotTtlMs: ttl });
    const a = gateway(up, { config });
    const b = gateway(up, { config });
    expect((await chat(b, chatBody(model))).status).toBe(200); // b holds a closed snapshot
    await b.settle();
    await up.fault({ model: "*", mode: "status", status: 503 });
    await fail(a, model, 2);
    const openedAt = Date.now();
    await sleep(2 * ttl + 20);
    const res = await chat(b, chatBody(model));
    expect(res.status).toBe(503);
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(2 * ttl);
    await b.settle();
  });

  it("an admin reset becomes visible to an isolate that had the circuit open", async () => {
    const ttl = 150;
    const { up, model, config } = setup({ failureThreshold: 1, openTimeoutMs: 60_000 }, { snapshotTtlMs: ttl });
    const a = gateway(up, { config });
    const b = gateway(up, { config });
    await up.fault({ model: "*", mode: "status", status: 503, times: 1 });
    await fail(b, model, 1);
    expect((await chat(b, chatBody(model))).status).toBe(503); // b skips locally
    await (await circuits(a)).reset(model, "fixed");
    await sleep(ttl + 10);
    const stale = await chat(b, chatBody(model)); // may still skip, but refreshes in the background
    await stale.body?.cancel();
    await b.settle();
    const res = await chat(b, chatBody(model));
    expect(res.status).toBe(200);
    await b.settle();
  });

  it("an isolate that has not consulted a model for a while sees an admin reset before deciding", async () => {
    const ttl = 100;
    const up = new Upstream();
    const primary = uniqueModel();
    const fallback = uniqueModel("deepseek-v3.2");
    const config = {
      models: { [primary]: { fallbacks: [fallback] }, [fallback]: { breaker: { failureThreshold: 1, openTimeoutMs: 60_000 } } },
      retry: { maxRetries: 0 },
      fallbackOrder: ["models"],
      snapshotTtlMs: ttl,
    };
    const a = gateway(up, { config });
    const b = gateway(up, { config });
    await up.fault({ model: fallback, mode: "status", status: 503, times: 1 });
    await fail(b, fallback, 1);
    expect((await chat(b, chatBody(fallback))).status).toBe(503); // b holds an open snapshot
    await b.settle();
    await (await circuits(a)).reset(fallback, "fixed");
    await sleep(2 * ttl + 50); // b does not consult the fallback meanwhile
    await up.fault({ model: primary, mode: "status", status: 503 });
    const res = await chat(b, chatBody(primary));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fallback);
    await res.body?.cancel();
    await b.settle();
  });

  it("a forced-open snapshot older than 2 × snapshotTtlMs is refreshed before deciding", async () => {
    const ttl = 100;
    const { up, model, config } = setup({}, { snapshotTtlMs: ttl });
    const a = gateway(up, { config });
    const b = gateway(up, { config });
    await (await circuits(a)).forceOpen(model, "maintenance", null);
    expect((await chat(b, chatBody(model))).status).toBe(503);
    await b.settle();
    await (await circuits(a)).reset(model, "done");
    await sleep(2 * ttl + 50);
    const res = await chat(b, chatBody(model));
    expect(res.status).toBe(200);
    await res.body?.cancel();
    await b.settle();
  });

  it("steady closed traffic costs at most one Durable Object call per isolate per snapshotTtlMs, reports included", async () => {
    const ttl = 100;
    const { model, gw } = setup({}, { snapshotTtlMs: ttl });
    const c = await circuits(gw);
    expect((await chat(gw, chatBody(model))).status).toBe(200);
    await gw.settle();
    const before = (await c.detail(model)).calls;
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < 600) {
      const res = await chat(gw, chatBody(model));
      await res.text();
      sent++;
    }
    const elapsed = Date.now() - started;
    await gw.settle();
    const calls = (await c.detail(model)).calls - before;
    expect(sent).toBeGreaterThan(calls * 2);
    expect(calls).toBeLessThanOrEqual(Math.ceil(elapsed / ttl) + 2);
    // Every outcome still arrived, batched.
    expect((await c.detail(model)).lifetime.successes).toBe(sent + 1);
  });
});

describe("the breaker's Durable Object", () => {
  it("survives a restart with its state intact", async () => {
    const { up, model, gw } = setup({ failureThreshold: 1, openTimeoutMs: 60_000 });
    await up.fault({ model: "*", mode: "status", status: 503, times: 1 });
    await fail(gw, model, 1);
    await evictDurableObject(env.BREAKERS.getByName(model));
    const detail = await (await circuits(gw)).detail(model);
    expect(detail.state).toBe("open");
    expect(detail.lifetime.failures).toBe(1);
    expect(detail.transitions[0]).toMatchObject({ from: "closed", to: "open" });
  });

  it("the alarm moves open → half_open with no traffic", async () => {
    const { up, model, gw } = setup({ failureThreshold: 1, openTimeoutMs: 100 });
    await up.fault({ model: "*", mode: "status", status: 503, times: 1 });
    await fail(gw, model, 1);
    expect(await storedState(model)).toBe("open");
    // The runtime fires the alarm on its own; nothing but the alarm touches the object meanwhile.
    await eventually(async () => (await storedState(model)) === "half_open", 2000);
  });

  it("a forced open with a duration ends in half_open", async () => {
    const { model, gw } = setup({});
    const c = await circuits(gw);
    const forced = await c.forceOpen(model, "maintenance", 100);
    expect(forced.state).toBe("forced_open");
    expect(forced.forcedReason).toBe("maintenance");
    expect((await chat(gw, chatBody(model))).status).toBe(503);
    await eventually(async () => (await storedState(model)) === "half_open", 2000);
    expect(await runDurableObjectAlarm(env.BREAKERS.getByName(model))).toBe(false);
    await gw.settle();
  });

  it("a Durable Object that throws never fails a request, and the event is counted", async () => {
    const { model, gw } = setup({});
    await injectBreakerFault(model, { mode: "throw", remaining: 2 });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    await gw.settle();
    const c = await circuits(gw);
    await eventually(async () => {
      const series = await c.series(model);
      return (series[`gateway_breaker_object_errors_total{model="${model}",kind="error"}`] ?? 0) >= 1;
    });
    expect((await c.detail(model)).lifetime.successes).toBe(1);
  });

  it("an overloaded Durable Object is not retried and never fails a request", async () => {
    const { model, gw } = setup({});
    await injectBreakerFault(model, { mode: "overloaded", remaining: 1 });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    await gw.settle();
    const c = await circuits(gw);
    await eventually(
      async () => (await c.series(model))[`gateway_breaker_object_errors_total{model="${model}",kind="overloaded"}`] === 1,
    );
  });
});

describe("alerts", () => {
  it("the webhook receives one alert per transition, whatever the number of isolates", async () => {
    const { up, model, config } = setup({ failureThreshold: 2 });
    const a = gateway(up, { config, ALERT_WEBHOOK_URL: up.webhook });
    const b = gateway(up, { config, ALERT_WEBHOOK_URL: up.webhook });
    await up.fault({ model: "*", mode: "status", status: 503 });
    await Promise.all([fail(a, model, 3), fail(b, model, 3)]);
    await (await circuits(a)).reset(model, "fixed");
    await eventually(async () => (await up.alerts()).length >= 2);
    await sleep(100);
    const alerts = await up.alerts();
    expect(alerts.map((x) => `${x.from}>${x.to}`)).toEqual(["closed>open", "open>closed"]);
    expect(alerts[0]?.text).toContain(model);
    expect(alerts[0]?.model).toBe(model);
  });

  it("a dead webhook changes nothing for clients", async () => {
    const { up, model, config } = setup({ failureThreshold: 1 });
    const gw = gateway(up, { config, ALERT_WEBHOOK_URL: "http://127.0.0.1:1/hook" });
    await up.fault({ model: "*", mode: "status", status: 503, times: 1 });
    const failed = await chat(gw, chatBody(model));
    expect(failed.status).toBe(502);
    await gw.settle();
    const skipped = await chat(gw, chatBody(model));
    expect(skipped.status).toBe(503);
    await gw.settle();
  });
});
