import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { expectOpenAIError } from "./support/expect";
import { awayFromMinuteEnd, type GatewayUnderTest, gateway, sleep, Upstream, uniqueModel } from "./support/harness";
import { setTenantObjectDown, tenantObjectCalls } from "./support/tenant-faults";

/**
 * DESIGN §13: a request reserves its upper cost at admission and every attempt that reached the
 * upstream is settled; limits hold across isolates however many requests arrive at once.
 *
 * Prices here are $8 per million tokens both ways, and every request says "hi there" (8 bytes:
 * 3 prompt tokens estimated) with `max_tokens: 10`, so one request reserves 13 tokens = $0.000104.
 */
const PRICE = 8 / 1_000_000;
const RESERVE = 13 * PRICE;
const PROMPT_ESTIMATE = 3 * PRICE;

function setup(tenantLimits: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const up = new Upstream();
  const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
  const key = `gk-${crypto.randomUUID()}`;
  const model = uniqueModel();
  const cheap = uniqueModel("deepseek-v3.2");
  const config = {
    models: { [model]: { fallbacks: [cheap], priceUsdPerMTok: 8 }, [cheap]: { priceUsdPerMTok: 4 } },
    retry: { maxRetries: 0, baseDelayMs: 10 },
    timeouts: { requestMs: 2000, streamIdleMs: 2000, streamTotalMs: 5000, deadlineMs: 4000 },
    tenants: { default: { requestsPerMinute: null }, ip: { requestsPerMinute: null }, [tenant]: tenantLimits },
    ...extra,
  };
  const vars = { config, CLIENT_KEYS: `${tenant}:${key}` };
  return { up, tenant, key, model, cheap, vars, a: gateway(up, vars), b: gateway(up, vars) };
}

function send(gw: GatewayUnderTest, key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return gw.fetch("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi there" }], max_tokens: 10, ...body }),
  });
}

/** Today's spend as the tenant's usage object holds it. */
async function spentUsd(tenant: string): Promise<number> {
  return (await env.TENANTS.getByName(`tenant:${tenant}`).sync([])).daySpendUsd;
}

async function minuteRequests(tenant: string): Promise<number> {
  return (await env.TENANTS.getByName(`tenant:${tenant}`).sync([])).minuteRequests;
}

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

describe("reserve, then settle (DESIGN §13)", () => {
  it("streams whose client hung up after the first chunk are admitted only within the budget, and each is charged", async () => {
    const { up, tenant, key, model, a } = setup({ dailyBudgetUsd: 0.0003 });
    await up.fault({ model, mode: "slow_chunks", delayMs: 400 });
    const open: ReadableStreamDefaultReader<Uint8Array>[] = [];
    const refused: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await send(a, key, { model, stream: true });
      if (res.status !== 200) {
        refused.push(await codeOf(res));
        continue;
      }
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      open.push(reader);
    }
    // $0.0003 holds two reservations of $0.000104 while they are open, not three.
    expect(open.length, JSON.stringify(refused)).toBe(2);
    expect(new Set(refused)).toEqual(new Set(["budget_exceeded"]));
    for (const reader of open) await reader.cancel();
    await a.settle();
    const spent = await spentUsd(tenant);
    expect(spent).toBeGreaterThanOrEqual(2 * PROMPT_ESTIMATE - 1e-12);
    expect(spent).toBeLessThanOrEqual(2 * RESERVE);
  });

  it("10 concurrent streams on a budget that fits 3 reservations: at most 3 admitted, spend within the budget", async () => {
    const { up, tenant, key, model, a } = setup({ dailyBudgetUsd: 0.0004 });
    await up.fault({ model, mode: "slow_chunks", delayMs: 30 });
    const res = await Promise.all(Array.from({ length: 10 }, () => send(a, key, { model, stream: true })));
    const bodies = await Promise.all(res.map((r) => r.text()));
    // The bound, and no less: the reservations that fit are all admitted.
    expect(res.filter((r) => r.status === 200).length).toBe(3);
    expect(bodies.filter((_, i) => res[i]?.status !== 200).every((b) => b.includes("budget_exceeded"))).toBe(true);
    await a.settle();
    expect(await spentUsd(tenant)).toBeLessThanOrEqual(0.0004);
    expect(await spentUsd(tenant)).toBeGreaterThan(0);
  });

  it("streams the upstream cut (not continued) are charged an estimate from what passed", async () => {
    const { up, tenant, key, model, a } = setup({}, { breaker: { failureThreshold: 100 } });
    await up.fault({ model, mode: "cut_after", after: 3 });
    for (let i = 0; i < 6; i++) {
      const res = await send(a, key, { model, stream: true }, { "x-gateway-stream-recovery": "off" });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("error");
    }
    await a.settle();
    // Three events passed: the role, "Hello " and "from " (11 characters: 3 tokens), on a 3-token prompt.
    expect(await spentUsd(tenant)).toBeCloseTo(6 * 6 * PRICE, 12);
  });

  it("a rescued stream is charged both parts; its reservation goes back only when the whole answer is over", async () => {
    const { up, tenant, key, model, a } = setup({});
    await up.fault({ model, mode: "cut_after", after: 3, times: 1 });
    const res = await send(a, key, { model, stream: true });
    const text = await res.text();
    expect(text).toContain('"x_gateway"');
    await a.settle();
    // The cut part: its 3-token prompt estimate + "Hello from " (11 characters: 3 tokens). The
    // continuation, as the simulated upstream reports it: "hi there" + the prefill (19 characters:
    // 5 tokens) and the 5 words of the rest.
    const { requests } = await up.stats();
    expect(requests).toHaveLength(2);
    expect(await spentUsd(tenant)).toBeCloseTo((6 + 10) * PRICE, 12);
  });

  it("a retry's failed attempt is charged its prompt; the answer its usage", async () => {
    const { up, tenant, key, model, a } = setup({}, { retry: { maxRetries: 1, baseDelayMs: 10 } });
    await up.fault({ model, mode: "ok", usage: { prompt_tokens: 100, completion_tokens: 50 } });
    await up.fault({ model, mode: "status", status: 503, times: 1 });
    const res = await send(a, key, { model });
    expect(res.status, await res.clone().text()).toBe(200);
    await res.text();
    await a.settle();
    expect(await up.calls(model)).toBe(2);
    expect(await spentUsd(tenant)).toBeCloseTo(PROMPT_ESTIMATE + 150 * PRICE, 12);
  });

  it("failed fallbacks are charged their prompts at each model's price", async () => {
    const { up, tenant, key, model, a } = setup({});
    await up.fault({ model: "*", mode: "status", status: 503 });
    const res = await send(a, key, { model });
    expect(res.status).toBe(502);
    await res.text();
    await a.settle();
    expect(await up.calls()).toBe(2);
    expect(await spentUsd(tenant)).toBeCloseTo(3 * PRICE + 3 * (4 / 1_000_000), 12);
  });
});

describe("hard bounds across isolates (DESIGN §13)", () => {
  it("50 concurrent requests from two isolates against a budget that fits 5: at most 5 admitted", async () => {
    const { up, tenant, key, model, a, b } = setup({ dailyBudgetUsd: 5 * RESERVE + RESERVE / 2 });
    await up.fault({ model, mode: "slow_chunks", delayMs: 20 });
    const res = await Promise.all(Array.from({ length: 50 }, (_, i) => send(i % 2 === 0 ? a : b, key, { model })));
    const statuses = res.map((r) => r.status);
    await Promise.all(res.map((r) => r.text()));
    expect(statuses.filter((s) => s === 200).length).toBe(5);
    expect(statuses.filter((s) => s !== 200).every((s) => s === 429)).toBe(true);
    await Promise.all([a.settle(), b.settle()]);
    expect(await spentUsd(tenant)).toBeLessThanOrEqual(5 * RESERVE + RESERVE / 2);
  });

  it("spend passes the budget only by what answers charge beyond their reservations", async () => {
    const budget = 2.5 * RESERVE;
    const { up, tenant, key, model, a, b } = setup({ dailyBudgetUsd: budget });
    // Each answer reports 200 tokens: far more than the 13 its request reserved.
    await up.fault({ model, mode: "ok", usage: { prompt_tokens: 100, completion_tokens: 100 } });
    const res = await Promise.all(Array.from({ length: 10 }, (_, i) => send(i % 2 === 0 ? a : b, key, { model })));
    await Promise.all(res.map((r) => r.text()));
    const served = res.filter((r) => r.status === 200).length;
    expect(served).toBe(2);
    await Promise.all([a.settle(), b.settle()]);
    const spent = await spentUsd(tenant);
    expect(spent).toBeCloseTo(served * 200 * PRICE, 12);
    expect(spent - budget).toBeLessThanOrEqual(served * (200 * PRICE - RESERVE) + 1e-12);
    // Past the budget, nothing more is admitted anywhere.
    for (const gw of [a, b]) expect(await codeOf(await send(gw, key, { model }))).toBe("budget_exceeded");
  });

  it("a burst over two isolates never exceeds requestsPerMinute", async () => {
    const { up, tenant, key, model, a, b } = setup({ requestsPerMinute: 5 });
    // Not across a minute's end: the window is the UTC minute.
    await awayFromMinuteEnd(5_000);
    const res = await Promise.all(Array.from({ length: 40 }, (_, i) => send(i % 2 === 0 ? a : b, key, { model })));
    const statuses = res.map((r) => r.status);
    await Promise.all(res.map((r) => r.text()));
    expect(statuses.filter((s) => s === 200).length).toBe(5);
    expect(statuses.filter((s) => s !== 200).every((s) => s === 429)).toBe(true);
    expect(await up.calls()).toBe(5);
    await Promise.all([a.settle(), b.settle()]);
    expect(await minuteRequests(tenant)).toBe(5);
  });
});

describe("leases of the allowance (DESIGN §13)", () => {
  it("a busy tenant costs no usage object call per request: 40 at once take a few", async () => {
    const { tenant, key, model, a } = setup({ requestsPerMinute: 600, dailyBudgetUsd: 10 });
    await awayFromMinuteEnd(5_000);
    const res = await Promise.all(Array.from({ length: 40 }, () => send(a, key, { model })));
    expect(res.map((r) => r.status)).toEqual(Array(40).fill(200));
    await Promise.all(res.map((r) => r.text()));
    expect(await tenantObjectCalls(`tenant:${tenant}`)).toBeLessThanOrEqual(6);
    await a.settle();
  });

  it("a burst from one IP over two isolates never exceeds ipRequestsPerMinute", async () => {
    const { up, key, model, a, b } = setup({ ipRequestsPerMinute: 4 });
    await awayFromMinuteEnd(5_000);
    const ip = { "cf-connecting-ip": "198.51.100.77" };
    const res = await Promise.all(Array.from({ length: 20 }, (_, i) => send(i % 2 === 0 ? a : b, key, { model }, ip)));
    const statuses = res.map((r) => r.status);
    await Promise.all(res.map((r) => r.text()));
    expect(statuses.filter((s) => s === 200).length).toBe(4);
    expect(statuses.filter((s) => s !== 200).every((s) => s === 429)).toBe(true);
    expect(await up.calls()).toBe(4);
    await Promise.all([a.settle(), b.settle()]);
  });

  it("while the usage object is unreachable an isolate spends what it holds, then answers 503 usage_unavailable", async () => {
    // A 2-second term (10 snapshot TTLs) keeps the lease alive through the test.
    const { tenant, key, model, a, b } = setup({ requestsPerMinute: 64 }, { snapshotTtlMs: 200 });
    await awayFromMinuteEnd(10_000);
    // The first request waits for a slice: 64 / 16 = 4 requests.
    expect((await send(a, key, { model })).status).toBe(200);
    await setTenantObjectDown(`tenant:${tenant}`, true);
    try {
      for (let i = 0; i < 3; i++) expect((await send(a, key, { model })).status).toBe(200);
      const refused = await send(a, key, { model });
      const retryAfter = Number(refused.headers.get("retry-after"));
      await expectOpenAIError(refused, 503, { type: "server_error", code: "usage_unavailable" });
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(2);
      // An isolate that holds nothing admits nothing.
      await expectOpenAIError(await send(b, key, { model }), 503, { code: "usage_unavailable" });
    } finally {
      await setTenantObjectDown(`tenant:${tenant}`, false);
    }
    await sleep(1_100); // past the isolate's back-off after the failures
    expect((await send(b, key, { model })).status).toBe(200);
    await Promise.all([a.settle(), b.settle()]);
    expect(await minuteRequests(tenant)).toBe(5);
  });

  it("a slice an isolate leaves unused goes back when its term ends; the isolate refused meanwhile is told when to retry", async () => {
    // Budget for 3.5 reservations: isolate a's three open streams take 3 of them.
    const { up, key, model, a, b } = setup({ dailyBudgetUsd: 3.5 * RESERVE });
    await up.fault({ model, mode: "slow_chunks", delayMs: 100 });
    const streams = await Promise.all([0, 1, 2].map(() => send(a, key, { model, stream: true })));
    expect(streams.map((r) => r.status)).toEqual([200, 200, 200]);
    const refused = await send(b, key, { model });
    const retryAfter = Number(refused.headers.get("retry-after"));
    await expectOpenAIError(refused, 429, { code: "budget_exceeded", message: /held by requests in flight/ });
    expect(retryAfter).toBe(1); // a term: 10 × the 50 ms snapshot TTL, rounded up
    await Promise.all(streams.map((r) => r.text()));
    await a.settle(); // a's term ends and its lease goes back
    const later = await send(b, key, { model });
    expect(later.status, await later.clone().text()).toBe(200);
    await later.text();
    await b.settle();
  });
});
