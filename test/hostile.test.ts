import { describe, expect, it } from "vitest";
import { expectOpenAIError } from "./support/expect";
import { chatBody, type GatewayUnderTest, gateway, Upstream, uniqueModel } from "./support/harness";

/**
 * Defects a hostile user found against `wrangler dev`, each pinned by the request that showed it.
 */

const TOKEN = "hostile-admin-token-0123456789";

/** A tenant of its own (usage is shared fleet-wide per tenant) with its key and limits. */
function setup(
  tenantLimits: Record<string, unknown> = {},
  defaults: Record<string, unknown> = {},
  tenant = `t-${crypto.randomUUID().slice(0, 8)}`,
) {
  const up = new Upstream();
  const key = `gk-${crypto.randomUUID()}`;
  const model = uniqueModel();
  const config = {
    models: { [model]: { priceUsdPerMTok: 8 } },
    retry: { maxRetries: 0 },
    tenants: {
      default: { requestsPerMinute: null, ...defaults },
      ip: { requestsPerMinute: null },
      [tenant]: tenantLimits,
    },
  };
  const gw = gateway(up, { config, CLIENT_KEYS: `${tenant}:${key}`, ADMIN_TOKEN: TOKEN });
  return { up, tenant, key, model, gw };
}

function send(gw: GatewayUnderTest, key: string, body: unknown): Promise<Response> {
  return gw.fetch("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
}

async function ok(res: Response): Promise<void> {
  expect(res.status, await res.clone().text()).toBe(200);
  await res.body?.cancel();
}

describe("maxTokens bounds max_tokens and max_completion_tokens; maxChoices bounds n", () => {
  it("refuses n above the tenant's maxChoices (default 1) before the upstream sees it", async () => {
    const { up, key, model, gw } = setup({ maxTokens: 100 });
    await expectOpenAIError(await send(gw, key, chatBody(model, { n: 128 })), 400, {
      type: "invalid_request_error",
      code: "invalid_value",
      param: "n",
    });
    await expectOpenAIError(await send(gw, key, chatBody(model, { n: 2 })), 400, { code: "invalid_value", param: "n" });
    expect(await up.calls()).toBe(0);
    await ok(await send(gw, key, chatBody(model, { n: 1 })));
    await ok(await send(gw, key, chatBody(model, { n: null })));
    await gw.settle();
  });

  it("a named tenant inherits tenants.default.maxChoices and may override it; null allows 128", async () => {
    const inherits = setup({}, { maxChoices: 3 });
    await ok(await send(inherits.gw, inherits.key, chatBody(inherits.model, { n: 3 })));
    await expectOpenAIError(await send(inherits.gw, inherits.key, chatBody(inherits.model, { n: 4 })), 400, { param: "n" });
    const own = setup({ maxChoices: null }, { maxChoices: 3 });
    await ok(await send(own.gw, own.key, chatBody(own.model, { n: 128, max_tokens: 1 })));
    expect((await own.up.stats()).requests.map((r) => r.body.n)).toEqual([128]);
    await inherits.gw.settle();
    await own.gw.settle();
  });

  it("maxChoices is validated as config (1..128 or null)", async () => {
    for (const maxChoices of [0, 129, 1.5, "2"]) {
      const { key, model, gw } = setup({}, { maxChoices });
      const err = await expectOpenAIError(await send(gw, key, chatBody(model)), 500, {
        message: /GATEWAY_CONFIG\.tenants\.default\.maxChoices/,
      });
      expect(err.message).not.toMatch(/unknown setting/);
    }
  });

  it("max_completion_tokens is bounded like max_tokens and forwarded as sent", async () => {
    const { up, key, model, gw } = setup({ maxTokens: 100 });
    await expectOpenAIError(await send(gw, key, chatBody(model, { max_completion_tokens: 101 })), 400, {
      code: "invalid_value",
      param: "max_completion_tokens",
    });
    await expectOpenAIError(await send(gw, key, chatBody(model, { max_tokens: 50, max_completion_tokens: 1000 })), 400, {
      param: "max_completion_tokens",
    });
    await expectOpenAIError(await send(gw, key, chatBody(model, { max_tokens: 1000 })), 400, {
      code: "invalid_value",
      param: "max_tokens",
    });
    expect(await up.calls()).toBe(0);
    await ok(await send(gw, key, chatBody(model, { max_completion_tokens: 100 })));
    await ok(await send(gw, key, chatBody(model, { max_completion_tokens: null, max_tokens: null })));
    const [sent, defaulted] = (await up.stats()).requests.map((r) => r.body);
    expect(sent).toMatchObject({ max_completion_tokens: 100 });
    expect(sent).not.toHaveProperty("max_tokens");
    expect(defaulted).toMatchObject({ max_tokens: 100 });
    await gw.settle();
  });
});

describe("tenant names: default, ip and public are reserved; any other valid name is ordinary", () => {
  const fresh = () => ({ up: new Upstream(), model: uniqueModel(), key: `gk-${crypto.randomUUID()}` });
  const defaults = { default: { requestsPerMinute: null, maxTokens: 7 }, ip: { requestsPerMinute: null } };

  it.each([["default"], ["ip"], ["public"]])(
    "CLIENT_KEYS naming tenant %s is a config error (500 naming the field)",
    async (name) => {
      const { up, model, key } = fresh();
      const gw = gateway(up, { config: { models: { [model]: {} } }, CLIENT_KEYS: `web:${key}-w,${name}:${key}` });
      const err = await expectOpenAIError(await send(gw, key, chatBody(model)), 500, { type: "server_error" });
      expect(err.message).toMatch(/CLIENT_KEYS\[1\]/);
      expect(err.message).toContain("reserved");
      expect(err.message).not.toContain(key);
      expect(await up.calls()).toBe(0);
    },
  );

  it.each([["constructor"], ["toString"], ["__proto__"], ["hasOwnProperty"]])(
    "a tenant named %s is served under tenants.default's limits",
    async (name) => {
      const { up, model, key } = fresh();
      const config = { models: { [model]: {} }, tenants: defaults };
      const gw = gateway(up, { config, CLIENT_KEYS: `${name}:${key}`, ADMIN_TOKEN: TOKEN });
      await ok(await send(gw, key, chatBody(model)));
      expect((await up.stats()).requests.map((r) => r.body.max_tokens)).toEqual([7]);
      const admin = await gw.fetch(`/admin/tenants/${name}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(admin.status, await admin.clone().text()).toBe(200);
      expect(await admin.json()).toMatchObject({ tenant: name, limits: { maxTokens: 7 } });
      await gw.settle();
    },
  );

  it("GATEWAY_CONFIG may give __proto__ and constructor limits of their own, and turn their cache off", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const [protoKey, ctorKey, valueOfKey] = [1, 2, 3].map(() => `gk-${crypto.randomUUID()}`) as [string, string, string];
    // Built from entries: an object literal's `__proto__:` would set the prototype, not a key.
    const tenants = Object.fromEntries([
      ["default", { requestsPerMinute: null }],
      ["ip", { requestsPerMinute: null }],
      ["__proto__", { maxTokens: 5 }],
      ["constructor", { models: [] }],
    ]);
    const config = {
      models: { [model]: {} },
      retry: { maxRetries: 0 },
      tenants,
      cache: { tenants: Object.fromEntries([["__proto__", { enabled: false }]]) },
    };
    const CLIENT_KEYS = `__proto__:${protoKey},constructor:${ctorKey},valueOf:${valueOfKey}`;
    const gw = gateway(up, { config, CLIENT_KEYS, ADMIN_TOKEN: TOKEN });
    await expectOpenAIError(await send(gw, protoKey, chatBody(model, { max_tokens: 6 })), 400, { param: "max_tokens" });
    await expectOpenAIError(await send(gw, ctorKey, chatBody(model)), 404, { code: "model_not_found" });
    for (const key of [protoKey, valueOfKey]) await ok(await send(gw, key, chatBody(model)));
    await gw.settle();
    // With the model down, valueOf's answer comes from the cache; __proto__'s cache is off.
    await up.fault({ model, mode: "status", status: 503 });
    const cached = await send(gw, valueOfKey, chatBody(model));
    expect(cached.headers.get("x-gateway-source")).toBe("cache");
    await ok(cached);
    expect((await send(gw, protoKey, chatBody(model))).status).toBe(502);
    const list = (await (await gw.fetch("/admin/tenants", { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
      tenants: { tenant: string; limits: { maxTokens: number | null; models: string[] | null } }[];
    };
    expect(list.tenants.find((t) => t.tenant === "__proto__")?.limits.maxTokens).toBe(5);
    expect(list.tenants.find((t) => t.tenant === "constructor")?.limits.models).toEqual([]);
    await gw.settle();
  });

  it("a config error in a __proto__ tenant's limits is named, not silently dropped", async () => {
    const { up, model, key } = fresh();
    const tenants = Object.fromEntries([["__proto__", { maxTokens: -1 }]]);
    const gw = gateway(up, { config: { models: { [model]: {} }, tenants }, CLIENT_KEYS: `web:${key}` });
    await expectOpenAIError(await send(gw, key, chatBody(model)), 500, {
      message: /GATEWAY_CONFIG\.tenants\.__proto__\.maxTokens/,
    });
  });
});

describe("the dashboard opens from a link on another site; the admin API still answers no cross-site request", () => {
  /** What a browser sends when an operator clicks the dashboard's URL in a chat on another site. */
  const clicked = {
    "sec-fetch-site": "cross-site",
    "sec-fetch-mode": "navigate",
    "sec-fetch-dest": "document",
    "sec-fetch-user": "?1",
  };

  function admin() {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: {} } }, ADMIN_TOKEN: TOKEN });
    return { gw, model };
  }

  it("GET /admin as a top-level navigation from another site serves the page", async () => {
    const { gw } = admin();
    const res = await gw.fetch("/admin", { headers: clicked });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    // Navigable, but never inside another site's frame.
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(await res.text()).not.toContain(TOKEN);
  });

  it.each([
    ["a cross-site fetch", { "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty" }, "GET"],
    ["a cross-site frame", { ...clicked, "sec-fetch-dest": "iframe" }, "GET"],
    ["a cross-site form post", clicked, "POST"],
    ["a request with another Origin", { origin: "https://evil.example" }, "GET"],
  ])("/admin still refuses %s (403)", async (_, headers, method) => {
    const { gw } = admin();
    const res = await gw.fetch("/admin", { method, headers });
    await expectOpenAIError(res, 403, { code: "cross_origin_forbidden" });
  });

  it("every admin API route refuses a cross-site navigation, even with the right token", async () => {
    const { gw, model } = admin();
    const routes: [string, string][] = [
      ["GET", "/admin/circuits"],
      ["GET", `/admin/circuits/${model}`],
      ["POST", `/admin/circuits/${model}/reset`],
      ["POST", `/admin/circuits/${model}/open`],
      ["GET", "/admin/tenants"],
      ["GET", "/admin/metrics"],
      ["GET", "/admin/demo/faults"],
      ["GET", "/admin/anything-else"],
    ];
    for (const [method, path] of routes) {
      const res = await gw.fetch(path, { method, headers: { ...clicked, authorization: `Bearer ${TOKEN}` } });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("cross_origin_forbidden");
    }
    const same = await gw.fetch("/admin/circuits", {
      headers: { "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors", authorization: `Bearer ${TOKEN}` },
    });
    expect(same.status).toBe(200);
    await same.body?.cancel();
  });
});

describe("usage is untrusted input: the spend it yields is never NaN", () => {
  type TenantView = { today: { spendUsd: number | null } };

  async function spendAfter(usage: unknown, stream: boolean) {
    const { up, key, model, gw, tenant } = setup();
    await up.fault({ model, mode: "ok", usage });
    const res = await send(gw, key, chatBody(model, { stream }));
    expect(res.status).toBe(200);
    await res.text();
    await gw.settle();
    const view = await gw.fetch(`/admin/tenants/${tenant}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const spend = ((await view.json()) as TenantView).today.spendUsd;
    const metrics = await (await gw.fetch("/admin/metrics", { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    return { spend, metrics, model, tenant };
  }

  it.each([[false], [true]])("a lone total_tokens is priced as completion tokens (stream: %s)", async (stream) => {
    const { spend, metrics, model, tenant } = await spendAfter({ total_tokens: 10 }, stream);
    // 10 tokens at $8 per million.
    expect(spend).toBeCloseTo(0.00008, 10);
    expect(metrics).not.toMatch(/NaN/);
    expect(metrics).toContain(`gateway_tokens_total{model="${model}",tenant="${tenant}",kind="completion"} 10`);
    expect(metrics).toMatch(new RegExp(`gateway_spend_usd_total\\{model="${model}",tenant="${tenant}"\\} 0\\.0000\\d+`));
  });

  it("input_tokens and output_tokens are read as prompt and completion", async () => {
    const { spend, metrics } = await spendAfter({ input_tokens: 4, output_tokens: 6 }, false);
    expect(spend).toBeCloseTo(0.00008, 10);
    expect(metrics).not.toMatch(/NaN/);
  });

  it.each([
    [{ prompt_tokens: "many", completion_tokens: null }],
    [{ prompt_tokens: -5, completion_tokens: -5, total_tokens: -10 }],
    ["usage"],
  ])("%j is no usage: the answer is charged its estimate (DESIGN §13) and leaves no NaN behind", async (usage) => {
    const { spend, metrics, model } = await spendAfter(usage, true);
    // "hi there" is 3 prompt tokens; the answer's text passed, at 4 characters a token; $8 per million.
    const text = `Hello from ${model}. You said: hi there`;
    expect(spend).toBeCloseTo(((3 + Math.ceil(text.length / 4)) * 8) / 1_000_000, 12);
    expect(metrics).not.toMatch(/NaN/);
  });
});
