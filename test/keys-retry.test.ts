import { describe, expect, it } from "vitest";
import { type Completion, chainSetup, fingerprintOf, hello, retryAfterOf } from "./support/chain";
import { expectOpenAIError } from "./support/expect";
import { chat, chatBody, circuits, eventually, gateway, sleep, Upstream, uniqueModel } from "./support/harness";

type Rec = { model: string; keyFingerprint: string; at: number };
const records = async (up: Upstream) => (await up.stats()).requests as unknown as Rec[];

/** Fresh, test-specific upstream keys: key alerts are remembered fleet-wide per key for an hour. */
function keyPair() {
  const id = crypto.randomUUID().replaceAll("-", "");
  return { a: `sk-a-${id}`, b: `sk-b-${id}` };
}

describe("429: cooling, not failure", () => {
  const variants: { name: string; fault: () => Record<string, unknown>; seconds: [number, number]; maxMs: number }[] = [
    { name: 'Retry-After: "2"', fault: () => ({ retryAfter: "2" }), seconds: [2, 2], maxMs: 2000 },
    {
      name: "Retry-After as an HTTP date",
      fault: () => ({ retryAfter: new Date(Date.now() + 3000).toUTCString() }),
      seconds: [2, 3],
      maxMs: 3000,
    },
    { name: 'retry-after-ms: "1500"', fault: () => ({ retryAfterMs: "1500" }), seconds: [2, 2], maxMs: 1500 },
    { name: "no Retry-After at all", fault: () => ({}), seconds: [1, 1], maxMs: 1000 },
  ];

  for (const v of variants) {
    it(`${v.name}: no breaker failure, the cool-down is honoured, the final 429 carries Retry-After`, async () => {
      const up = new Upstream();
      const model = uniqueModel();
      const config = {
        models: { [model]: { breaker: { failureThreshold: 1 } } },
        // The cool-down is the subject here; waiting out a short Retry-After is chain-choices.test.ts's.
        retry: { maxRetries: 2, baseDelayMs: 0, waitOnRetryAfterMs: 0 },
        fallbackOrder: [],
      };
      const gw = gateway(up, { config });
      await up.fault({ model, mode: "status", status: 429, ...v.fault() });
      const res = await chat(gw, chatBody(model));
      const { seconds, ms } = retryAfterOf(res);
      await expectOpenAIError(res, 429, { code: "rate_limited", type: "rate_limit_error" });
      expect(seconds).toBeGreaterThanOrEqual(v.seconds[0]);
      expect(seconds).toBeLessThanOrEqual(v.seconds[1]);
      expect(ms).toBeLessThanOrEqual(v.maxMs);
      expect(ms).toBeGreaterThan(v.maxMs - 1100);
      // A 429 is not retried on the same model.
      expect(await up.calls(model)).toBe(1);
      await gw.settle();

      // Within the window, neither this isolate nor a fresh one reaches the upstream.
      for (const isolate of [gw, gateway(up, { config })]) {
        const again = await chat(isolate, chatBody(model));
        const ra = retryAfterOf(again);
        await expectOpenAIError(again, 429, { code: "rate_limited" });
        expect(ra.seconds).toBeLessThanOrEqual(v.seconds[1]);
        expect(again.headers.get("x-gateway-circuit")).toBe("closed");
        await isolate.settle();
      }
      expect(await up.calls(model)).toBe(1);

      const c = await circuits(gw);
      await eventually(async () => (await c.detail(model)).lifetime.rateLimited === 1);
      const detail = await c.detail(model);
      expect(detail.lifetime.failures).toBe(0);
      expect(detail.state).toBe("closed");
    });
  }

  it("with a fallback configured, a 429 hands the request to the fallback model, and so does the cool-down after it", async () => {
    const { up, model, fb, gw } = chainSetup({ extra: { retry: { maxRetries: 2, baseDelayMs: 0 } } });
    // Longer than retry.waitOnRetryAfterMs: not waited for.
    await up.fault({ model, mode: "status", status: 429, retryAfter: "5" });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    expect(res.headers.get("x-gateway-circuit")).toBe("closed");
    expect(((await res.json()) as Completion).choices[0]?.message.content).toBe(hello(fb));
    await gw.settle();
    const again = await chat(gw, chatBody(model, { messages: [{ role: "user", content: "again" }] }));
    expect(again.status).toBe(200);
    expect(again.headers.get("x-gateway-model")).toBe(fb);
    await again.body?.cancel();
    await gw.settle();
    expect(await up.calls(model)).toBe(1);
    expect(await up.calls(fb)).toBe(2);
    expect((await (await circuits(gw)).detail(model)).lifetime.failures).toBe(0);
  });

  it("Retry-After from the upstream is capped at retry.maxDelayMs, for the client and for the cool-down", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: {} }, retry: { maxRetries: 0, maxDelayMs: 400 }, fallbackOrder: [] } });
    await up.fault({ model, mode: "status", status: 429, retryAfter: "120", times: 1 });
    const res = await chat(gw, chatBody(model));
    const { seconds, ms } = retryAfterOf(res);
    await expectOpenAIError(res, 429, { code: "rate_limited" });
    expect(seconds).toBe(1);
    expect(ms).toBeLessThanOrEqual(400);
    await gw.settle();
    const detail = await (await circuits(gw)).detail(model);
    expect(detail.coolingUntil).not.toBeNull();
    expect(detail.coolingUntil! - Date.now()).toBeLessThanOrEqual(400);
    // The same isolate calls the model again once the capped cool-down is over.
    await sleep(ms + 60);
    const again = await chat(gw, chatBody(model));
    expect(again.status).toBe(200);
    await again.body?.cancel();
    expect(await up.calls(model)).toBe(2);
    await gw.settle();
  });

  it("without Retry-After the cool-down grows, and the advertised Retry-After still tells the truth: waiting it out reaches the model", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const config = { models: { [model]: {} }, retry: { maxRetries: 0 }, fallbackOrder: [] };
    const gw = gateway(up, { config });
    await up.fault({ model, mode: "status", status: 429, times: 2 });
    for (let round = 1; round <= 2; round++) {
      const res = await chat(gw, chatBody(model));
      const { ms } = retryAfterOf(res);
      await expectOpenAIError(res, 429, { code: "rate_limited" });
      expect(await up.calls(model)).toBe(round);
      await gw.settle();
      // Honour the advertised wait, then ask again from a fresh isolate.
      await sleep(ms + 60);
      if (round === 2) {
        const after = gateway(up, { config });
        const ok = await chat(after, chatBody(model));
        const text = await ok.text();
        expect(ok.status, `after waiting the advertised ${ms} ms: ${text}`).toBe(200);
        expect(await up.calls(model)).toBe(3);
        await after.settle();
      }
    }
  });

  it("after the cool-down the model is called again", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const config = { models: { [model]: {} }, retry: { maxRetries: 0, waitOnRetryAfterMs: 0 }, fallbackOrder: [] };
    const gw = gateway(up, { config });
    await up.fault({ model, mode: "status", status: 429, retryAfterMs: "300", times: 1 });
    expect((await chat(gw, chatBody(model))).status).toBe(429);
    await gw.settle();
    await sleep(350);
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    await res.body?.cancel();
    expect(await up.calls(model)).toBe(2);
    await gw.settle();
  });
});

describe("HolySheep key rotation", () => {
  it("first key 401, second key works: the answer comes with the second key, and the first is set aside", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const { a, b } = keyPair();
    const gw = gateway(up, { config: { models: { [model]: {} }, retry: { maxRetries: 0 } }, HOLYSHEEP_API_KEY: `${a}, ${b}` });
    await up.fault({ model: "*", mode: "status", status: 401, key: a });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(((await res.json()) as Completion).choices[0]?.message.content).toBe(hello(model));
    const [fa, fbp] = [await fingerprintOf(a), await fingerprintOf(b)];
    expect(fa).not.toBe(fbp);
    expect((await records(up)).map((r) => r.keyFingerprint)).toEqual([fa, fbp]);
    // The next request goes straight to the second key.
    const next = await chat(gw, chatBody(model));
    expect(next.status).toBe(200);
    await next.body?.cancel();
    expect((await records(up)).map((r) => r.keyFingerprint)).toEqual([fa, fbp, fbp]);
    await gw.settle();
    const detail = await (await circuits(gw)).detail(model);
    expect(detail.lifetime.failures).toBe(0);
    expect(detail.state).toBe("closed");
  });

  it("403 on one model sets the key aside for that model only", async () => {
    const up = new Upstream();
    const m1 = uniqueModel();
    const m2 = uniqueModel();
    const { a, b } = keyPair();
    const gw = gateway(up, {
      config: { models: { [m1]: {}, [m2]: {} }, retry: { maxRetries: 0 } },
      HOLYSHEEP_API_KEY: `${a},${b}`,
    });
    await up.fault({ model: m1, mode: "status", status: 403, key: a });
    const [fa, fbp] = [await fingerprintOf(a), await fingerprintOf(b)];
    const r1 = await chat(gw, chatBody(m1));
    expect(r1.status).toBe(200);
    await r1.body?.cancel();
    const r2 = await chat(gw, chatBody(m2));
    expect(r2.status).toBe(200);
    await r2.body?.cancel();
    const r3 = await chat(gw, chatBody(m1));
    expect(r3.status).toBe(200);
    await r3.body?.cancel();
    const recs = await records(up);
    expect(recs.map((r) => `${r.model === m1 ? "m1" : "m2"}:${r.keyFingerprint}`)).toEqual([
      `m1:${fa}`,
      `m1:${fbp}`,
      `m2:${fa}`,
      `m1:${fbp}`,
    ]);
    await gw.settle();
  });

  it("all keys bad: 502 upstream_auth_error, with no key material in the body or headers", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const { a, b } = keyPair();
    const gw = gateway(up, { config: { models: { [model]: {} }, retry: { maxRetries: 0 } }, HOLYSHEEP_API_KEY: `${a},${b}` });
    // Like the real API, the refusal echoes the key it was given.
    const echo = (key: string) => ({
      error: {
        message: `Incorrect API key provided: ${key}.`,
        type: "invalid_request_error",
        code: "invalid_api_key",
        param: null,
      },
    });
    await up.fault(
      { model: "*", mode: "status", status: 401, key: a, body: echo(a) },
      { model: "*", mode: "status", status: 401, key: b, body: echo(b) },
    );
    for (const stream of [false, true]) {
      const res = await chat(gw, chatBody(model, { stream }));
      const headers = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join("\n");
      const text = await res.clone().text();
      await expectOpenAIError(res, 502, { code: "upstream_auth_error" });
      for (const secret of [a, b, a.slice(5), b.slice(5), a.slice(-12), b.slice(-12)]) {
        expect(text).not.toContain(secret);
        expect(headers).not.toContain(secret);
      }
      expect(text).not.toMatch(/sk-[ab]-/);
    }
    // Both requests together tried each key once: a set-aside key is not tried again.
    expect(await up.calls(model)).toBe(2);
    await gw.settle();
    expect((await (await circuits(gw)).detail(model)).lifetime.failures).toBe(0);
  });

  it("one alert per refused key, however many requests and isolates", async () => {
    const up = new Upstream();
    const m1 = uniqueModel();
    const m2 = uniqueModel();
    const { a, b } = keyPair();
    const overrides = {
      config: { models: { [m1]: {}, [m2]: {} }, retry: { maxRetries: 0 } },
      HOLYSHEEP_API_KEY: `${a},${b}`,
      ALERT_WEBHOOK_URL: up.webhook,
    };
    await up.fault({ model: "*", mode: "status", status: 401, key: a });
    const isolates = [gateway(up, overrides), gateway(up, overrides), gateway(up, overrides)];
    const responses = await Promise.all(
      isolates.flatMap((gw) =>
        [m1, m2, m1].map((m, i) => chat(gw, chatBody(m, { messages: [{ role: "user", content: `n${i}` }] }))),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(responses.map(() => 200));
    await Promise.all(responses.map((r) => r.body?.cancel()));
    await Promise.all(isolates.map((gw) => gw.settle()));
    const fa = await fingerprintOf(a);
    const fbp = await fingerprintOf(b);
    const keyAlerts = async () => (await up.alerts()).filter((x) => x && x.event === "upstream_key_rejected");
    await eventually(async () => (await keyAlerts()).length >= 1);
    // Give any duplicate a chance to arrive.
    await sleep(300);
    const alerts = await keyAlerts();
    expect(alerts.filter((x) => x.fingerprint === fa)).toHaveLength(1);
    expect(alerts.filter((x) => x.fingerprint === fbp)).toHaveLength(0);
    expect(JSON.stringify(await up.alerts())).not.toContain(a);
    // A later isolate meeting the same refusal does not alert again.
    const late = gateway(up, overrides);
    const res = await chat(late, chatBody(m2, { messages: [{ role: "user", content: "late" }] }));
    expect(res.status).toBe(200);
    await res.body?.cancel();
    await late.settle();
    await sleep(200);
    expect((await keyAlerts()).filter((x) => x.fingerprint === fa)).toHaveLength(1);
  });
});

describe("retries", () => {
  it("one transient 503 then success: the answer, after 2 upstream calls", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: {} }, retry: { maxRetries: 1, baseDelayMs: 10 }, fallbackOrder: [] } });
    await up.fault({ model, mode: "status", status: 503, times: 1 });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(model);
    expect(((await res.json()) as Completion).choices[0]?.message.content).toBe(hello(model));
    expect(await up.calls(model)).toBe(2);
    await gw.settle();
  });

  it("one transient failure of a stream before commit (bad_sse) is retried transparently", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: {} }, retry: { maxRetries: 1, baseDelayMs: 10 }, fallbackOrder: [] } });
    await up.fault({ model, mode: "bad_sse", times: 1 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.trim().endsWith("data: [DONE]")).toBe(true);
    expect(text).not.toContain('"error"');
    expect(await up.calls(model)).toBe(2);
    await gw.settle();
  });

  it("retries never exceed maxRetries: maxRetries 2 → exactly 3 calls", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, {
      config: {
        models: { [model]: { breaker: { failureThreshold: 20 } } },
        retry: { maxRetries: 2, baseDelayMs: 0, maxAttempts: 10 },
        fallbackOrder: [],
      },
    });
    await up.fault({ model, mode: "status", status: 503 });
    const res = await chat(gw, chatBody(model));
    expect(res.headers.get("x-should-retry")).toBe("false");
    await expectOpenAIError(res, 502, { code: "upstream_error" });
    expect(await up.calls(model)).toBe(3);
    await gw.settle();
  });

  it("maxAttempts caps the whole chain: maxAttempts 2 with a fallback → 2 calls in all", async () => {
    const { up, model, gw } = chainSetup({
      model: { breaker: { failureThreshold: 20 } },
      fallback: { breaker: { failureThreshold: 20 } },
      extra: { retry: { maxRetries: 3, baseDelayMs: 0, maxAttempts: 2 } },
    });
    await up.fault({ model: "*", mode: "status", status: 503 });
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 502, { code: "upstream_error" });
    expect(await up.calls()).toBe(2);
    expect(res.headers.get("x-should-retry")).toBe("false");
    await gw.settle();
  });

  it("maxAttempts is shared by every step: 1 retry of the requested model + 1 fallback = 3 with maxAttempts 3; the second fallback is never called", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const fb1 = uniqueModel("deepseek-v3.2");
    const fb2 = uniqueModel("gemini-2.5-flash");
    const gw = gateway(up, {
      config: {
        models: {
          [model]: { fallbacks: [fb1, fb2], breaker: { failureThreshold: 20 } },
          [fb1]: { breaker: { failureThreshold: 20 } },
          [fb2]: {},
        },
        retry: { maxRetries: 1, baseDelayMs: 0, maxAttempts: 3 },
      },
    });
    await up.fault({ model, mode: "status", status: 503 }, { model: fb1, mode: "status", status: 503 });
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 502, { code: "upstream_error" });
    expect(await up.calls(model)).toBe(2);
    expect(await up.calls(fb1)).toBe(1);
    expect(await up.calls(fb2)).toBe(0);
    await gw.settle();
  });

  it("nothing starts after deadlineMs: an attempt slower than the deadline is the last one, no retry or fallback follows", async () => {
    const { up, model, fb, gw } = chainSetup({
      extra: {
        retry: { maxRetries: 3, baseDelayMs: 0 },
        timeouts: { requestMs: 5000, streamIdleMs: 5000, streamTotalMs: 10000, deadlineMs: 300 },
      },
    });
    await up.fault({ model, mode: "slow_headers", delayMs: 1000 });
    const started = Date.now();
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 504, { code: "upstream_timeout" });
    expect(Date.now() - started).toBeLessThan(1000);
    await gw.settle();
    await sleep(100);
    expect(await up.calls(model)).toBe(1);
    expect(await up.calls(fb)).toBe(0);
  });

  it("nothing starts after deadlineMs: retries of timed-out attempts all start before the deadline", async () => {
    const { up, model, fb, gw } = chainSetup({
      model: { breaker: { failureThreshold: 20 } },
      extra: {
        retry: { maxRetries: 10, baseDelayMs: 0, maxAttempts: 20 },
        timeouts: { requestMs: 150, streamIdleMs: 5000, streamTotalMs: 10000, deadlineMs: 400 },
      },
    });
    await up.fault({ model, mode: "hang" }, { model: fb, mode: "hang" });
    const started = Date.now();
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 504, { code: "upstream_timeout" });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(1000);
    await gw.settle();
    await sleep(100);
    const recs = await records(up);
    expect(recs.length).toBeGreaterThanOrEqual(2);
    expect(recs.length).toBeLessThanOrEqual(4);
    for (const r of recs) expect(r.at - started).toBeLessThan(400 + 80);
  });

  it("a half-open probe is never retried", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const config = {
      models: { [model]: { breaker: { failureThreshold: 1, openTimeoutMs: 100, halfOpenMaxCalls: 1 } } },
      retry: { maxRetries: 3, baseDelayMs: 0 },
      fallbackOrder: [],
    };
    const gw = gateway(up, { config });
    const c = await circuits(gw);
    await c.forceOpen(model, "test", 100);
    await eventually(async () => (await c.detail(model)).state === "half_open");
    await up.fault({ model, mode: "status", status: 503 });
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 502, { code: "upstream_error" });
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
    expect((await c.detail(model)).state).toBe("open");

    // The same fault on a closed circuit is retried: the cap above was the probe rule.
    const closed = uniqueModel();
    const gw2 = gateway(up, { config: { ...config, models: { [closed]: { breaker: { failureThreshold: 20 } } } } });
    await up.fault({ model: closed, mode: "status", status: 503 });
    const r2 = await chat(gw2, chatBody(closed));
    expect(r2.status).toBe(502);
    await r2.body?.cancel();
    expect(await up.calls(closed)).toBe(4);
    await gw2.settle();
  });
});
