import { beforeEach, describe, expect, it } from "vitest";
import { awayFromMinuteEnd, chatBody, type GatewayUnderTest, gateway, Upstream, uniqueModel } from "./support/harness";

// Per-minute limits: no test may see its requests split over two UTC minutes.
beforeEach(() => awayFromMinuteEnd());

const TOKEN = "tenant-admin-token";

/** A tenant of its own (usage is shared fleet-wide per tenant), with its key. */
function setup(tenantLimits: Record<string, unknown>, extra: Record<string, unknown> = {}, vars: Record<string, string> = {}) {
  const up = new Upstream();
  const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
  const key = `gk-${crypto.randomUUID()}`;
  const model = uniqueModel();
  const cheap = uniqueModel("deepseek-v3.2");
  const config = {
    models: { [model]: { fallbacks: [cheap], priceUsdPerMTok: 8 }, [cheap]: { priceUsdPerMTok: 0.42 } },
    tenants: { default: { requestsPerMinute: null }, ip: { requestsPerMinute: null }, [tenant]: tenantLimits },
    ...extra,
  };
  const env = { config, CLIENT_KEYS: `${tenant}:${key}`, ADMIN_TOKEN: TOKEN, ...vars };
  const gw = gateway(up, env);
  return { up, tenant, key, model, cheap, config, env, gw };
}

function send(gw: GatewayUnderTest, key: string | null, body: unknown, headers: Record<string, string> = {}) {
  return gw.fetch("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body: JSON.stringify(body),
  });
}

type ErrorBody = { error: { code: string; param: string | null; message: string } };

describe("tenant limits", () => {
  it("requestsPerMinute holds across isolates; the 429 says when the minute frees up", async () => {
    const { key, model, gw, env, up } = setup({ requestsPerMinute: 3 });
    for (let i = 0; i < 2; i++) expect((await send(gw, key, chatBody(model))).status).toBe(200);
    await gw.settle();
    const other = gateway(up, env);
    expect((await send(other, key, chatBody(model))).status).toBe(200);
    const limited = await send(other, key, chatBody(model));
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as ErrorBody).error.code).toBe("tenant_rate_limited");
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await up.calls()).toBe(3);
    await other.settle();
  });

  it("dailyBudgetUsd stops a tenant once today's spend leaves less than a request reserves", async () => {
    // A request reserves (3 prompt tokens + 10) × $8/M = $0.000104; the answer costs 9 tokens, $0.000072.
    const { key, model, gw, up } = setup({ dailyBudgetUsd: 0.00015 });
    expect((await send(gw, key, chatBody(model, { max_tokens: 10 }))).status).toBe(200);
    await gw.settle();
    const res = await send(gw, key, chatBody(model, { max_tokens: 10 }));
    expect(res.status).toBe(429);
    expect(((await res.json()) as ErrorBody).error.code).toBe("budget_exceeded");
    // Nothing is held anywhere: the budget frees up at midnight UTC.
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(60);
    expect(await up.calls()).toBe(1);
  });

  it("a request whose reservation is larger than the whole budget is refused before any call", async () => {
    const { key, model, gw, up } = setup({ dailyBudgetUsd: 0.01 });
    // 4096 completion tokens (the model's maxOutputTokens) at $8/M is $0.033.
    const res = await send(gw, key, chatBody(model));
    expect(res.status).toBe(429);
    expect(((await res.json()) as ErrorBody).error.code).toBe("budget_exceeded");
    expect(await up.calls()).toBe(0);
    expect((await send(gw, key, chatBody(model, { max_tokens: 1000 }))).status).toBe(200);
    await gw.settle();
  });

  it("models limits what a tenant may request", async () => {
    const { key, model, cheap, gw, up } = setup({ models: [] });
    const denied = await send(gw, key, chatBody(cheap));
    expect(denied.status).toBe(404);
    expect(((await denied.json()) as ErrorBody).error.code).toBe("model_not_found");
    expect((await send(gw, key, chatBody(model))).status).toBe(404);
    expect(await up.calls()).toBe(0);
  });

  it("a tenant restricted to one model is never served by a fallback it may not use", async () => {
    const up = new Upstream();
    const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
    const key = `gk-${crypto.randomUUID()}`;
    const model = uniqueModel();
    const cheap = uniqueModel("deepseek-v3.2");
    const gw = gateway(up, {
      CLIENT_KEYS: `${tenant}:${key}`,
      config: {
        models: { [model]: { fallbacks: [cheap] }, [cheap]: {} },
        retry: { maxRetries: 0 },
        tenants: { default: { requestsPerMinute: null }, ip: { requestsPerMinute: null }, [tenant]: { models: [model] } },
      },
    });
    await up.fault({ model, mode: "status", status: 503 });
    const res = await send(gw, key, chatBody(model));
    expect(res.status).toBe(502);
    expect(await up.calls(cheap)).toBe(0);
    await gw.settle();
  });

  it("maxTokens refuses a larger max_tokens and sets it when the caller gave none", async () => {
    const { key, model, gw, up } = setup({ maxTokens: 100 });
    const tooMany = await send(gw, key, chatBody(model, { max_tokens: 200 }));
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as ErrorBody).error.param).toBe("max_tokens");
    const alsoTooMany = await send(gw, key, chatBody(model, { max_completion_tokens: 101 }));
    expect(alsoTooMany.status).toBe(400);
    expect((await send(gw, key, chatBody(model, { max_tokens: 50 }))).status).toBe(200);
    expect((await send(gw, key, chatBody(model))).status).toBe(200);
    const bodies = (await up.stats()).requests.map((r) => r.body);
    expect(bodies.map((b) => b.max_tokens)).toEqual([50, 100]);
    await gw.settle();
  });

  it("anonymous callers are limited per IP by tenants.ip", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, {
      ALLOW_ANONYMOUS: "true",
      config: { models: { [model]: {} }, tenants: { default: { requestsPerMinute: null }, ip: { requestsPerMinute: 2 } } },
    });
    // Addresses of their own: every test's anonymous callers share the tenant `public`.
    const randomIp = () => `2001:db8:${crypto.randomUUID().slice(0, 4)}:${crypto.randomUUID().slice(0, 4)}::1`;
    const [ip, other] = [randomIp(), randomIp()];
    for (let i = 0; i < 2; i++) expect((await send(gw, null, chatBody(model), { "cf-connecting-ip": ip })).status).toBe(200);
    const limited = await send(gw, null, chatBody(model), { "cf-connecting-ip": ip });
    expect(limited.status).toBe(429);
    expect((await send(gw, null, chatBody(model), { "cf-connecting-ip": other })).status).toBe(200);
    await gw.settle();
  });
});

describe("/admin/tenants", () => {
  const admin = (gw: GatewayUnderTest, path: string, init: RequestInit = {}) =>
    gw.fetch(path, { ...init, headers: { authorization: `Bearer ${TOKEN}` } });

  it("lists each tenant's limits and today's requests and spend; reset clears the spend", async () => {
    const { key, model, gw, tenant } = setup({ requestsPerMinute: 50, dailyBudgetUsd: 5 });
    for (let i = 0; i < 2; i++) await (await send(gw, key, chatBody(model))).text();
    await gw.settle();
    const list = (await (await admin(gw, "/admin/tenants")).json()) as { tenants: { tenant: string }[] };
    expect(list.tenants.map((t) => t.tenant)).toContain(tenant);
    const one = (await (await admin(gw, `/admin/tenants/${tenant}`)).json()) as {
      limits: { requestsPerMinute: number; dailyBudgetUsd: number };
      today: { requests: number; spendUsd: number };
    };
    expect(one.limits).toMatchObject({ requestsPerMinute: 50, dailyBudgetUsd: 5 });
    expect(one.today.requests).toBe(2);
    expect(one.today.spendUsd).toBeGreaterThan(0);
    const reset = await admin(gw, `/admin/tenants/${tenant}/reset`, { method: "POST" });
    expect(reset.status).toBe(200);
    const after = (await reset.json()) as { today: { requests: number; spendUsd: number } };
    expect(after.today).toMatchObject({ requests: 2, spendUsd: 0 });
  });

  it("an unknown tenant is 404, a GET on reset is 405, and no token is 401", async () => {
    const { gw } = setup({});
    expect((await admin(gw, "/admin/tenants/nobody")).status).toBe(404);
    expect((await admin(gw, "/admin/tenants/nobody/reset")).status).toBe(405);
    expect((await gw.fetch("/admin/tenants")).status).toBe(401);
  });
});
