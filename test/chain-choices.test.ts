import { describe, expect, it } from "vitest";
import { type Completion, chainSetup, hello, soloSetup } from "./support/chain";
import { expectOpenAIError } from "./support/expect";
import { chat, chatBody, circuits, gateway, Upstream, uniqueModel } from "./support/harness";

/** DESIGN §15b: which step the chain takes next, and when it waits. */

describe("no retry into a hang", () => {
  it("a requested model that never answers is not retried: the fallback serves within the deadline", async () => {
    // The finding at a smaller scale: requestMs 30 s and deadlineMs 60 s became 200 ms and 400 ms.
    const { up, model, fb, gw } = chainSetup({
      extra: {
        retry: { maxRetries: 1, baseDelayMs: 0 },
        timeouts: { requestMs: 200, streamIdleMs: 2000, streamTotalMs: 5000, deadlineMs: 400 },
      },
    });
    await up.fault({ model, mode: "hang" });
    const started = Date.now();
    const res = await chat(gw, chatBody(model));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    expect(((await res.json()) as Completion).choices[0]?.message.content).toBe(hello(fb));
    expect(Date.now() - started).toBeLessThan(400);
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
  });

  it("the same for a stream", async () => {
    const { up, model, fb, gw } = chainSetup({
      extra: {
        retry: { maxRetries: 1, baseDelayMs: 0 },
        timeouts: { requestMs: 200, streamIdleMs: 2000, streamTotalMs: 5000, deadlineMs: 400 },
      },
    });
    await up.fault({ model, mode: "slow_headers", delayMs: 1000 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    expect(await res.text()).toContain("[DONE]");
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
  });

  it("fast transient failures are still retried on the same model", async () => {
    const { up, model, fb, gw } = chainSetup({ extra: { retry: { maxRetries: 1, baseDelayMs: 0 } } });
    await up.fault({ model, mode: "status", status: 502, times: 1 });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(model);
    await res.body?.cancel();
    expect(await up.calls(model)).toBe(2);
    expect(await up.calls(fb)).toBe(0);
    await gw.settle();
  });
});

describe("a short Retry-After is waited for", () => {
  it("Retry-After: 2 with the whole deadline left: the requested model is retried after 2 s, the fallback never called", async () => {
    const { up, model, fb, gw } = chainSetup({
      extra: {
        retry: { maxRetries: 0 },
        timeouts: { requestMs: 2000, streamIdleMs: 2000, streamTotalMs: 5000, deadlineMs: 10_000 },
      },
    });
    await up.fault({ model, mode: "status", status: 429, retryAfter: "2", times: 1 });
    const started = Date.now();
    const res = await chat(gw, chatBody(model));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(model);
    expect(((await res.json()) as Completion).choices[0]?.message.content).toBe(hello(model));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1950);
    expect(await up.calls(model)).toBe(2);
    expect(await up.calls(fb)).toBe(0);
    await gw.settle();
    expect((await (await circuits(gw)).detail(model)).lifetime.failures).toBe(0);
  });

  it("it is waited for once: a second 429 falls through to the fallback", async () => {
    const { up, model, fb, gw } = chainSetup();
    await up.fault({ model, mode: "status", status: 429, retryAfterMs: "200", times: 2 });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    await res.body?.cancel();
    expect(await up.calls(model)).toBe(2);
    expect(await up.calls(fb)).toBe(1);
    await gw.settle();
  });

  it("a Retry-After over retry.waitOnRetryAfterMs cools the model and the fallback serves at once", async () => {
    const { up, model, fb, gw } = chainSetup({ extra: { retry: { maxRetries: 0, waitOnRetryAfterMs: 500 } } });
    await up.fault({ model, mode: "status", status: 429, retryAfterMs: "800" });
    const started = Date.now();
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    await res.body?.cancel();
    expect(Date.now() - started).toBeLessThan(500);
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
    expect((await (await circuits(gw)).detail(model)).coolingUntil).not.toBeNull();
  });

  it("not when the deadline would pass first: the fallback serves at once", async () => {
    const { up, model, fb, gw } = chainSetup({
      extra: { timeouts: { requestMs: 500, streamIdleMs: 2000, streamTotalMs: 5000, deadlineMs: 1000 } },
    });
    await up.fault({ model, mode: "status", status: 429, retryAfter: "2" });
    const started = Date.now();
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    await res.body?.cancel();
    expect(Date.now() - started).toBeLessThan(800);
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
  });

  it("a fallback model's 429 is not waited for", async () => {
    const { up, model, fb, config } = chainSetup();
    await up.fault({ model: fb, mode: "status", status: 429, retryAfterMs: "300" });
    const gw = gateway(up, { config });
    await (await circuits(gw)).forceOpen(model, "test", 60_000);
    const started = Date.now();
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 503, { code: "circuit_open" });
    expect(Date.now() - started).toBeLessThan(300);
    expect(await up.calls(fb)).toBe(1);
    await gw.settle();
  });
});

/** A requested model with a small context, and fallbacks with smaller, larger and unknown ones. */
function contextSetup() {
  const up = new Upstream();
  const model = uniqueModel();
  const smaller = uniqueModel("deepseek-v3.2");
  const larger = uniqueModel("gemini-2.5-flash");
  const config = {
    models: {
      [model]: { fallbacks: [smaller, larger], contextTokens: 128_000, breaker: { failureThreshold: 1 } },
      [smaller]: { contextTokens: 64_000 },
      [larger]: { contextTokens: 1_000_000 },
    },
    retry: { maxRetries: 1, baseDelayMs: 0 },
  };
  return { up, model, smaller, larger, config, gw: gateway(up, { config }) };
}

const overflowByCode = {
  error: {
    message: "Your input exceeds the context window of this model.",
    type: "invalid_request_error",
    code: "context_length_exceeded",
    param: "messages",
  },
};
const overflowByMessage = {
  error: {
    message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens.",
    type: "invalid_request_error",
    code: null,
    param: "messages",
  },
};

describe("context overflow falls through", () => {
  for (const [name, body] of [
    ["by its code", overflowByCode],
    ["by its message", overflowByMessage],
  ] as const) {
    it(`a 400 context_length_exceeded (${name}) goes to the fallback with a larger context, skipping a smaller one; no breaker failure`, async () => {
      const { up, model, smaller, larger, gw } = contextSetup();
      await up.fault({ model, mode: "status", status: 400, body });
      const res = await chat(gw, chatBody(model));
      expect(res.status, await res.clone().text()).toBe(200);
      expect(res.headers.get("x-gateway-model")).toBe(larger);
      await res.body?.cancel();
      expect(await up.calls(model)).toBe(1);
      expect(await up.calls(smaller)).toBe(0);
      await gw.settle();
      const detail = await (await circuits(gw)).detail(model);
      expect(detail.lifetime.failures).toBe(0);
      expect(detail.state).toBe("closed");
    });
  }

  it("when no model serves, the original 400 is relayed", async () => {
    const { up, model, larger, gw } = contextSetup();
    await up.fault({ model, mode: "status", status: 400, body: overflowByCode }, { model: larger, mode: "status", status: 503 });
    const res = await chat(gw, chatBody(model));
    const err = await expectOpenAIError(res, 400, { code: "context_length_exceeded", param: "messages" });
    expect(err.message).toBe(overflowByCode.error.message);
    expect(res.headers.get("retry-after")).toBeNull();
    await gw.settle();
  });

  it("without contextTokens, every fallback model is tried", async () => {
    const { up, model, fb, gw } = chainSetup();
    await up.fault({ model, mode: "status", status: 400, body: overflowByCode });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    await res.body?.cancel();
    await gw.settle();
  });

  it("with x-gateway-fallback: none the 400 is relayed at once", async () => {
    const { up, model, larger, gw } = contextSetup();
    await up.fault({ model, mode: "status", status: 400, body: overflowByCode });
    const res = await chat(gw, chatBody(model), { "x-gateway-fallback": "none" });
    await expectOpenAIError(res, 400, { code: "context_length_exceeded" });
    expect(await up.calls(larger)).toBe(0);
    await gw.settle();
  });
});

describe("a content-filter 400 is relayed cleanly", () => {
  it("with its status, type, code and message, at once: no retry, no fallback, no breaker failure", async () => {
    const { up, model, fb, gw } = chainSetup({
      model: { breaker: { failureThreshold: 1 } },
      extra: { retry: { maxRetries: 2, baseDelayMs: 0 } },
    });
    const body = {
      error: {
        message: "The response was filtered due to the prompt triggering content management policy.",
        type: "invalid_request_error",
        code: "content_filter",
        param: "prompt",
      },
    };
    await up.fault({ model, mode: "status", status: 400, body });
    for (const stream of [false, true]) {
      const res = await chat(gw, chatBody(model, { stream }));
      const err = await expectOpenAIError(res, 400, { type: "invalid_request_error", code: "content_filter", param: "prompt" });
      expect(err.message).toBe(body.error.message);
      expect(res.headers.get("x-gateway-model")).toBe(model);
    }
    expect(await up.calls(model)).toBe(2);
    expect(await up.calls(fb)).toBe(0);
    await gw.settle();
    expect((await (await circuits(gw)).detail(model)).lifetime.failures).toBe(0);
  });
});

describe("the settings", () => {
  it("retry.waitOnRetryAfterMs (0: never wait) and models.<m>.contextTokens are accepted", async () => {
    const model = uniqueModel();
    const { up, gw } = soloSetup({ extra: { retry: { waitOnRetryAfterMs: 0 }, models: { [model]: { contextTokens: 8192 } } } });
    await up.fault({ model, mode: "status", status: 429, retryAfterMs: "100" });
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 429, { code: "rate_limited" });
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
  });

  it.each([
    [{ retry: { waitOnRetryAfterMs: -1 } }, "retry.waitOnRetryAfterMs"],
    [{ retry: { waitOnRetryAfterMs: 1.5 } }, "retry.waitOnRetryAfterMs"],
    [{ models: { m: { contextTokens: 0 } } }, "models.m.contextTokens"],
    [{ models: { m: { contextTokens: "big" } } }, "models.m.contextTokens"],
  ])("%j is a config error naming the field", async (config, field) => {
    const { gw, model } = soloSetup({ extra: config });
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 500, { code: "config_error", message: new RegExp(field.replaceAll(".", "\\.")) });
  });
});
