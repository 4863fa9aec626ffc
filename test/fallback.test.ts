import { describe, expect, it } from "vitest";
import { type Completion, chainSetup, hello, openAndFresh, parseStream, primed, retryAfterOf } from "./support/chain";
import { expectOpenAIError } from "./support/expect";
import { chat, chatBody, circuits, gateway, sleep, Upstream, uniqueModel } from "./support/harness";

describe("the fallback chain: open circuit, no cached answer", () => {
  it("the cheaper model answers, and x-gateway-model says which", async () => {
    const { up, model, fb, config } = chainSetup();
    const gw = await openAndFresh(up, config, model);
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    expect(res.headers.get("x-gateway-source")).toBe("upstream");
    expect(res.headers.get("x-gateway-circuit")).toBe("forced_open");
    expect(((await res.json()) as Completion).choices[0]?.message.content).toBe(hello(fb));
    expect(await up.calls(model)).toBe(0);
    expect(await up.calls(fb)).toBe(1);

    const streamed = await chat(gw, chatBody(model, { stream: true, messages: [{ role: "user", content: "stream" }] }));
    expect(streamed.headers.get("x-gateway-model")).toBe(fb);
    const s = parseStream(await streamed.text());
    expect(s.done).toBe(true);
    expect(s.content).toBe(hello(fb, "stream"));
    expect(await up.calls(model)).toBe(0);
    await gw.settle();
  });

  it("the same after real failures opened the circuit", async () => {
    const { up, model, fb, gw } = chainSetup({ model: { breaker: { failureThreshold: 1, openTimeoutMs: 30_000 } } });
    await up.fault({ model, mode: "status", status: 503 });
    const first = await chat(gw, chatBody(model, { messages: [{ role: "user", content: "one" }] }));
    // The failure happened before commit: the fallback served this request already.
    expect(first.status).toBe(200);
    expect(first.headers.get("x-gateway-model")).toBe(fb);
    await first.body?.cancel();
    await gw.settle();
    expect((await (await circuits(gw)).detail(model)).state).toBe("open");
    const res = await chat(gw, chatBody(model, { messages: [{ role: "user", content: "two" }] }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    expect(res.headers.get("x-gateway-circuit")).toBe("open");
    await res.body?.cancel();
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
  });

  it("a fallback whose own circuit is open is skipped with no upstream call; the exhausted chain is 503 circuit_open with the soonest Retry-After", async () => {
    const { up, model, fb, config } = chainSetup();
    const gw = gateway(up, { config });
    const c = await circuits(gw);
    await c.forceOpen(model, "test", 60_000);
    await c.forceOpen(fb, "test", 5_000);
    const res = await chat(gw, chatBody(model));
    const { seconds, ms } = retryAfterOf(res);
    await expectOpenAIError(res, 503, { code: "circuit_open" });
    // The fallback opens again in 5 s, sooner than the requested model's 60 s.
    expect(seconds).toBe(5);
    expect(ms).toBeGreaterThan(4000);
    expect(ms).toBeLessThanOrEqual(5000);
    expect(res.headers.get("x-gateway-model")).toBe(model);
    expect(res.headers.get("x-gateway-circuit")).toBe("forced_open");
    expect(await up.calls()).toBe(0);
    await gw.settle();
  });

  it("Retry-After is the requested model's when it is the soonest", async () => {
    const { up, model, fb, config } = chainSetup({ model: { breaker: { failureThreshold: 1, openTimeoutMs: 3_000 } } });
    await up.fault({ model, mode: "status", status: 503, times: 1 });
    const opener = gateway(up, { config: { ...config, fallbackOrder: [] } });
    expect((await primed(opener, chatBody(model))).res.status).toBe(502);
    const gw = gateway(up, { config });
    await (await circuits(gw)).forceOpen(fb, "test", 60_000);
    const res = await chat(gw, chatBody(model, { messages: [{ role: "user", content: "later" }] }));
    const { seconds } = retryAfterOf(res);
    await expectOpenAIError(res, 503, { code: "circuit_open" });
    expect(seconds).toBeGreaterThanOrEqual(2);
    expect(seconds).toBeLessThanOrEqual(3);
    expect(res.headers.get("x-gateway-circuit")).toBe("open");
    expect(await up.calls()).toBe(1);
    await gw.settle();
  });
});

describe("a fallback model's 4xx ends that step only", () => {
  it("the chain goes on to the next fallback model", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const fb1 = uniqueModel("deepseek-v3.2");
    const fb2 = uniqueModel("gemini-2.5-flash");
    const config = { models: { [model]: { fallbacks: [fb1, fb2] }, [fb1]: {}, [fb2]: {} }, retry: { maxRetries: 0 } };
    await up.fault({ model: fb1, mode: "status", status: 400 });
    const gw = await openAndFresh(up, config, model);
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb2);
    await res.body?.cancel();
    expect(await up.calls(fb1)).toBe(1);
    await gw.settle();
    expect((await (await circuits(gw)).detail(fb1)).lifetime.failures).toBe(0);
  });
});

describe("mixed exhaustion: the requested model's fate decides the status", () => {
  it("requested model timed out + fallback open: 504 upstream_timeout with the fallback's Retry-After", async () => {
    const { up, model, fb, config } = chainSetup({ model: { timeouts: { requestMs: 150 } } });
    await up.fault({ model, mode: "hang" });
    const gw = gateway(up, { config });
    await (await circuits(gw)).forceOpen(fb, "test", 20_000);
    const started = Date.now();
    const res = await chat(gw, chatBody(model));
    const { seconds } = retryAfterOf(res);
    await expectOpenAIError(res, 504, { code: "upstream_timeout" });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(seconds).toBeGreaterThanOrEqual(19);
    expect(seconds).toBeLessThanOrEqual(20);
    expect(await up.calls(model)).toBe(1);
    expect(await up.calls(fb)).toBe(0);
    await gw.settle();
  });

  it("requested model 429 + fallback failing (503): 429 rate_limited with Retry-After; then cooling + failing: 429 again without calling it", async () => {
    const { up, model, fb, config, gw } = chainSetup();
    await up.fault({ model, mode: "status", status: 429, retryAfter: "3" }, { model: fb, mode: "status", status: 503 });
    const res = await chat(gw, chatBody(model));
    const { seconds, ms } = retryAfterOf(res);
    await expectOpenAIError(res, 429, { code: "rate_limited" });
    expect(seconds).toBe(3);
    expect(ms).toBeGreaterThan(2000);
    expect(ms).toBeLessThanOrEqual(3000);
    expect(await up.calls(model)).toBe(1);
    expect(await up.calls(fb)).toBe(1);
    await gw.settle();

    for (const isolate of [gw, gateway(up, { config })]) {
      const again = await chat(isolate, chatBody(model, { messages: [{ role: "user", content: `again ${Math.random()}` }] }));
      const ra = retryAfterOf(again);
      await expectOpenAIError(again, 429, { code: "rate_limited" });
      expect(ra.seconds).toBeLessThanOrEqual(3);
      await isolate.settle();
    }
    expect(await up.calls(model)).toBe(1);
    expect(await up.calls(fb)).toBe(3);
  });
});

describe("commit: before it the chain recovers, after it the stream ends in an error event", () => {
  it("a 200 whose first event is an error falls back transparently to the fallback model", async () => {
    const { up, model, fb, gw } = chainSetup();
    await up.fault({ model, mode: "error_event" });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    const s = parseStream(await res.text());
    expect(s.errors).toEqual([]);
    expect(s.done).toBe(true);
    expect(s.content).toBe(hello(fb));
    expect(await up.calls(model)).toBe(1);
    expect(await up.calls(fb)).toBe(1);
    await gw.settle();
    expect((await (await circuits(gw)).detail(model)).lifetime.failures).toBe(1);
  });

  it("with recovery off, a stream cut after commit ends with the SSE error event and no [DONE]; the partial text is intact; nothing is retried", async () => {
    const { up, model, fb, gw } = chainSetup({
      extra: { retry: { maxRetries: 2, baseDelayMs: 0 }, streamRecovery: { mode: "off" } },
    });
    await up.fault({ model, mode: "cut_after", after: 4 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(model);
    const s = parseStream(await res.text());
    expect(s.done).toBe(false);
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]?.type).toBe("upstream_error");
    expect(s.data.at(-1)).toContain('"error"');
    // role chunk, "Hello ", "from ", "<model>. ": the three words, exactly.
    expect(s.content).toBe(`Hello from ${model}. `);
    await gw.settle();
    expect(await up.calls(model)).toBe(1);
    expect(await up.calls(fb)).toBe(0);
    const c = await circuits(gw);
    expect((await c.detail(model)).lifetime.failures).toBe(1);
  });

  it("with recovery off, a stream over its total time after commit ends with the SSE error event; the partial text is a prefix of the answer; nothing is retried", async () => {
    const { up, model, fb, gw } = chainSetup({
      model: { timeouts: { streamTotalMs: 200 } },
      extra: { retry: { maxRetries: 2, baseDelayMs: 0 }, streamRecovery: { mode: "off" } },
    });
    await up.fault({ model, mode: "slow_chunks", delayMs: 50 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(model);
    const s = parseStream(await res.text());
    expect(s.done).toBe(false);
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]).toMatchObject({ type: "upstream_error", code: "upstream_timeout" });
    expect(s.data.at(-1)).toContain('"error"');
    expect(s.content.length).toBeGreaterThan(0);
    expect(hello(model).startsWith(s.content)).toBe(true);
    expect(s.content).not.toBe(hello(model));
    await gw.settle();
    expect(await up.calls(model)).toBe(1);
    expect(await up.calls(fb)).toBe(0);
    await sleep(100);
    expect(await up.calls()).toBe(1);
    expect((await (await circuits(gw)).detail(model)).lifetime.failures).toBe(1);
  });
});

describe("fallbackOrder and the caller's bounds", () => {
  it("fallbackOrder [models, cache]: the fallback model serves even though a cached answer exists; the default order serves the cache", async () => {
    const { up, model, fb, config, gw } = chainSetup();
    expect((await primed(gw, chatBody(model))).res.status).toBe(200);

    const modelsFirst = { ...config, fallbackOrder: ["models", "cache"] };
    const a = await openAndFresh(up, modelsFirst, model);
    const res = await chat(a, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    expect(res.headers.get("x-gateway-source")).toBe("upstream");
    await res.body?.cancel();
    await a.settle();

    const b = await openAndFresh(up, config, model);
    const cached = await chat(b, chatBody(model));
    expect(cached.headers.get("x-gateway-source")).toBe("cache");
    expect(cached.headers.get("x-gateway-model")).toBe(model);
    await cached.body?.cancel();
    expect(await up.calls(fb)).toBe(1);
    await b.settle();
  });

  it("fallbackOrder [models, cache]: with the fallback open too, the cache still serves", async () => {
    const { up, model, fb, config, gw } = chainSetup({ extra: { fallbackOrder: ["models", "cache"] } });
    expect((await primed(gw, chatBody(model))).res.status).toBe(200);
    const later = await openAndFresh(up, config, model);
    await (await circuits(later)).forceOpen(fb, "test", 60_000);
    const res = await chat(later, chatBody(model));
    expect(res.headers.get("x-gateway-source")).toBe("cache");
    await res.body?.cancel();
    expect(await up.calls(fb)).toBe(0);
    await later.settle();
  });

  it("x-gateway-fallback: none on an open circuit is a 503 at once: no cache, no fallback model", async () => {
    const { up, model, fb, config, gw } = chainSetup();
    expect((await primed(gw, chatBody(model))).res.status).toBe(200);
    const later = await openAndFresh(up, config, model, 10_000);
    const res = await chat(later, chatBody(model), { "x-gateway-fallback": "none" });
    const { seconds } = retryAfterOf(res);
    await expectOpenAIError(res, 503, { code: "circuit_open" });
    expect(seconds).toBeLessThanOrEqual(10);
    expect(await up.calls(fb)).toBe(0);
    // The cached answer was there to take: without the header it is served.
    const served = await chat(later, chatBody(model));
    expect(served.headers.get("x-gateway-source")).toBe("cache");
    await served.body?.cancel();
    await later.settle();
  });

  it("x-gateway-fallback: cache skips the fallback models", async () => {
    const { up, model, fb, config, gw } = chainSetup();
    expect((await primed(gw, chatBody(model))).res.status).toBe(200);
    const later = await openAndFresh(up, config, model);
    const hit = await chat(later, chatBody(model), { "x-gateway-fallback": "cache" });
    expect(hit.status).toBe(200);
    expect(hit.headers.get("x-gateway-source")).toBe("cache");
    await hit.body?.cancel();
    const miss = await chat(later, chatBody(model, { messages: [{ role: "user", content: "never asked" }] }), {
      "x-gateway-fallback": "cache",
    });
    await expectOpenAIError(miss, 503, { code: "circuit_open" });
    expect(await up.calls(fb)).toBe(0);
    await later.settle();
  });

  it("x-gateway-fallback: models skips the cache", async () => {
    const { up, model, fb, config, gw } = chainSetup();
    expect((await primed(gw, chatBody(model))).res.status).toBe(200);
    const later = await openAndFresh(up, config, model);
    const res = await chat(later, chatBody(model), { "x-gateway-fallback": "models" });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-source")).toBe("upstream");
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    await res.body?.cancel();
    expect(await up.calls(fb)).toBe(1);
    await later.settle();
  });

  it("x-gateway-max-stale: 1 refuses a cached answer older than 1 s; 60 accepts it", async () => {
    const { up, model, config, gw } = chainSetup();
    expect((await primed(gw, chatBody(model))).res.status).toBe(200);
    const cachedBy = Date.now();
    const later = await openAndFresh(up, config, model);
    const fresh = await chat(later, chatBody(model), { "x-gateway-fallback": "cache", "x-gateway-max-stale": "1" });
    expect(fresh.headers.get("x-gateway-source")).toBe("cache");
    await fresh.body?.cancel();

    await sleep(Math.max(0, cachedBy + 1150 - Date.now()));
    const stale = await chat(later, chatBody(model), { "x-gateway-fallback": "cache", "x-gateway-max-stale": "1" });
    await expectOpenAIError(stale, 503, { code: "circuit_open" });
    const ok = await chat(later, chatBody(model), { "x-gateway-fallback": "cache", "x-gateway-max-stale": "60" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-gateway-source")).toBe("cache");
    expect(Number(ok.headers.get("x-gateway-cache-age"))).toBeGreaterThanOrEqual(1);
    await ok.body?.cancel();
    await later.settle();
  });

  it("x-gateway-max-stale: a refused stale answer lets the fallback model serve", async () => {
    const { up, model, fb, config, gw } = chainSetup();
    expect((await primed(gw, chatBody(model))).res.status).toBe(200);
    await sleep(2100);
    const later = await openAndFresh(up, config, model);
    const res = await chat(later, chatBody(model), { "x-gateway-max-stale": "1" });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    expect(res.headers.get("x-gateway-source")).toBe("upstream");
    await res.body?.cancel();
    await later.settle();
  });
});

describe("x-should-retry: false once the gateway retried or fell back", () => {
  it("after retries of the requested model (502)", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: {} }, retry: { maxRetries: 1, baseDelayMs: 0 }, fallbackOrder: [] } });
    await up.fault({ model, mode: "status", status: 503 });
    const res = await chat(gw, chatBody(model));
    expect(res.headers.get("x-should-retry")).toBe("false");
    await expectOpenAIError(res, 502, { code: "upstream_error" });
    expect(await up.calls(model)).toBe(2);
    await gw.settle();
  });

  it("after falling back (503 circuit_open, 429 rate_limited, 504 upstream_timeout)", async () => {
    const { up, model, fb, config } = chainSetup({ model: { timeouts: { requestMs: 100 } } });
    await up.fault({ model: fb, mode: "status", status: 503 });
    const open = await openAndFresh(up, config, model);
    const a = await chat(open, chatBody(model));
    expect(a.status).toBe(503);
    expect(a.headers.get("x-should-retry")).toBe("false");
    await a.body?.cancel();
    await open.settle();

    const other = chainSetup({ model: { timeouts: { requestMs: 100 } } });
    await other.up.fault(
      { model: other.model, mode: "status", status: 429, retryAfter: "1" },
      { model: other.fb, mode: "status", status: 503 },
    );
    const b = await chat(other.gw, chatBody(other.model));
    expect(b.status).toBe(429);
    expect(b.headers.get("x-should-retry")).toBe("false");
    await b.body?.cancel();
    await other.gw.settle();

    const third = chainSetup({ model: { timeouts: { requestMs: 100 } } });
    await third.up.fault({ model: third.model, mode: "hang" }, { model: third.fb, mode: "status", status: 503 });
    const c = await chat(third.gw, chatBody(third.model));
    expect(c.status).toBe(504);
    expect(c.headers.get("x-should-retry")).toBe("false");
    await c.body?.cancel();
    await third.gw.settle();
  });

  it("a single attempt with no retry and no fallback leaves retrying to the SDK (no x-should-retry: false)", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: {} }, retry: { maxRetries: 0 }, fallbackOrder: [] } });
    await up.fault({ model, mode: "status", status: 503 });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(502);
    expect(res.headers.get("x-should-retry")).not.toBe("false");
    await res.body?.cancel();
    await gw.settle();
  });
});
