import { describe, expect, it } from "vitest";
import { type Completion, chainSetup, hello, primed, soloSetup } from "./support/chain";
import { expectOpenAIError } from "./support/expect";
import { chat, chatBody, circuits, eventually, gateway, sleep, UPSTREAM_KEY } from "./support/harness";

/** DESIGN §12's table of upstream status classes, one row at a time, through the real chain. */

const BILLING = "Your HolySheep balance is exhausted. Top up at https://holysheep.ai/billing.";
const billing = { error: { message: BILLING, type: "insufficient_quota", code: "insufficient_balance", param: null } };

/** Failures the breaker counted for `model`, once the background reports landed. */
async function failures(gw: ReturnType<typeof chainSetup>["gw"], model: string): Promise<number> {
  await gw.settle();
  return (await (await circuits(gw)).detail(model)).lifetime.failures;
}

describe("400, 404, 413, 422: the client's request", () => {
  it.each([[400], [404], [413], [422]])(
    "%i from the requested model is relayed at once, even with a cached answer and a fallback model",
    async (status) => {
      const { up, model, fb, gw } = chainSetup({ model: { breaker: { failureThreshold: 1 } } });
      expect((await primed(gw, chatBody(model))).res.status).toBe(200);
      const body = { error: { message: `bad request ${status}`, type: "invalid_request_error", code: "bad", param: "messages" } };
      await up.fault({ model, mode: "status", status, body });
      const err = await expectOpenAIError(await chat(gw, chatBody(model)), status, { code: "bad", param: "messages" });
      expect(err.message).toBe(`bad request ${status}`);
      expect(await up.calls(model)).toBe(2);
      expect(await up.calls(fb)).toBe(0);
      expect(await failures(gw, model)).toBe(0);
    },
  );
});

describe("402: the gateway's account", () => {
  it("with a cached answer, the cache serves: the billing message never reaches the caller, and the breaker counts no failure", async () => {
    const { up, model, fb, gw } = chainSetup({ model: { breaker: { failureThreshold: 1 } } });
    expect((await primed(gw, chatBody(model))).res.status).toBe(200);
    await up.fault({ model: "*", mode: "status", status: 402, body: billing });
    const res = await chat(gw, chatBody(model));
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(res.headers.get("x-gateway-source")).toBe("cache");
    expect((JSON.parse(text) as Completion).choices[0]?.message.content).toBe(hello(model));
    expect(text).not.toContain("balance");
    expect(await up.calls(model)).toBe(2);
    expect(await up.calls(fb)).toBe(0);
    expect(await failures(gw, model)).toBe(0);
    expect((await (await circuits(gw)).detail(model)).state).toBe("closed");
  });

  it("without one: 502 upstream_account_error; the provider's keys stay aside for retry.maxDelayMs, so every model is skipped meanwhile", async () => {
    const { up, model, fb, gw } = chainSetup({ extra: { retry: { maxRetries: 1, baseDelayMs: 0, maxDelayMs: 700 } } });
    await up.fault({ model: "*", mode: "status", status: 402, body: billing, times: 1 });
    const res = await chat(gw, chatBody(model));
    const text = await res.clone().text();
    const err = await expectOpenAIError(res, 502, { type: "upstream_error", code: "upstream_account_error" });
    expect(text).not.toContain("balance");
    expect(err.message).not.toContain(UPSTREAM_KEY);
    // Not retried, and the fallback model (same provider, same account) was never called.
    expect(await up.calls()).toBe(1);

    // While the keys are aside, nothing reaches the upstream: the same error at once, for every model.
    for (const m of [model, fb]) {
      const again = await chat(gw, chatBody(m, { messages: [{ role: "user", content: `aside ${m}` }] }));
      await expectOpenAIError(again, 502, { code: "upstream_account_error" });
    }
    expect(await up.calls()).toBe(1);
    await gw.settle();

    await sleep(750);
    const later = await chat(gw, chatBody(model, { messages: [{ role: "user", content: "later" }] }));
    expect(later.status).toBe(200);
    expect(later.headers.get("x-gateway-model")).toBe(model);
    await later.body?.cancel();
    expect(await failures(gw, model)).toBe(0);
  });

  it("raises one alert per provider per hour, however many isolates meet it; it carries no key and no billing text", async () => {
    const { up, model, config } = chainSetup();
    const overrides = { config, ALERT_WEBHOOK_URL: up.webhook };
    await up.fault({ model: "*", mode: "status", status: 402, body: billing });
    const isolates = [gateway(up, overrides), gateway(up, overrides), gateway(up, overrides)];
    for (const [i, gw] of isolates.entries()) {
      const res = await chat(gw, chatBody(model, { messages: [{ role: "user", content: `n${i}` }] }));
      await expectOpenAIError(res, 502, { code: "upstream_account_error" });
      await gw.settle();
    }
    expect(await up.calls()).toBe(3);
    const accountAlerts = async () => (await up.alerts()).filter((a) => a.event === "upstream_account_error");
    await eventually(async () => (await accountAlerts()).length >= 1);
    await sleep(300);
    const alerts = await accountAlerts();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.provider).toBe("holysheep");
    expect(JSON.stringify(alerts)).not.toContain(UPSTREAM_KEY);
    expect(JSON.stringify(alerts)).not.toContain("Top up");
  });
});

describe("408, 425, 5xx: transient", () => {
  it.each([[408], [425], [500], [503]])("%i is retried, and counts as a failure", async (status) => {
    const { up, model, gw } = soloSetup({ extra: { retry: { maxRetries: 1, baseDelayMs: 0 } } });
    await up.fault({ model, mode: "status", status, times: 1 });
    const res = await chat(gw, chatBody(model));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(model);
    await res.body?.cancel();
    expect(await up.calls(model)).toBe(2);
    expect(await failures(gw, model)).toBe(1);
  });

  it("425 from the requested model falls through to the fallback model, not back to the caller", async () => {
    const { up, model, fb, gw } = chainSetup();
    await up.fault({ model, mode: "status", status: 425 });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    await res.body?.cancel();
    await gw.settle();
  });
});

describe("any other 4xx (409, 451, …): rejected for this request", () => {
  const leaky = (status: number) => ({
    error: {
      message: `Refused (${status}) for key ${UPSTREAM_KEY}.`,
      type: "invalid_request_error",
      code: `refused_${status}`,
      param: null,
    },
  });

  it.each([[409], [451]])("%i with a cached answer: the cache serves, and the breaker counts nothing", async (status) => {
    const { up, model, fb, gw } = chainSetup({ model: { breaker: { failureThreshold: 1 } } });
    expect((await primed(gw, chatBody(model))).res.status).toBe(200);
    await up.fault({ model, mode: "status", status, body: leaky(status) });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-source")).toBe("cache");
    await res.body?.cancel();
    expect(await up.calls(fb)).toBe(0);
    expect(await failures(gw, model)).toBe(0);
    expect((await (await circuits(gw)).detail(model)).state).toBe("closed");
  });

  it.each([[409], [451], [418]])("%i with a fallback model and no cached answer: the fallback serves", async (status) => {
    const { up, model, fb, gw } = chainSetup();
    await up.fault({ model, mode: "status", status, body: leaky(status) });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    await res.body?.cancel();
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
  });

  it.each([[409], [451]])("%i when nothing else serves: relayed with its status and its message, redacted", async (status) => {
    const { up, model, gw } = soloSetup({ model: { breaker: { failureThreshold: 1 } }, extra: { retry: { maxRetries: 2 } } });
    await up.fault({ model, mode: "status", status, body: leaky(status) });
    const res = await chat(gw, chatBody(model));
    const text = await res.clone().text();
    const err = await expectOpenAIError(res, status, { code: `refused_${status}` });
    expect(err.message).toContain(`Refused (${status})`);
    expect(text).not.toContain(UPSTREAM_KEY);
    // Not retried: it is about this request, not the model.
    expect(await up.calls(model)).toBe(1);
    expect(await failures(gw, model)).toBe(0);
  });

  it("a fallback model's 409 ends its step only; the requested model's fate still decides", async () => {
    const { up, model, fb, gw } = chainSetup();
    await up.fault({ model, mode: "status", status: 503 }, { model: fb, mode: "status", status: 409 });
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 502, { code: "upstream_error" });
    expect(await up.calls(fb)).toBe(1);
    await gw.settle();
  });
});
