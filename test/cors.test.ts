import { describe, expect, it } from "vitest";
import { chat, chatBody, gateway, singleModel, Upstream, uniqueModel, WEB_KEY } from "./support/harness";

const APP = "https://app.example";
const EVIL = "https://evil.example";
const REQUESTED_HEADERS = ["authorization", "content-type", "x-stainless-os", "x-stainless-retry-count", "x-gateway-fallback"];
const EXPOSED = ["x-request-id", "x-gateway-model", "x-gateway-source", "x-gateway-circuit", "retry-after", "retry-after-ms"];

const setup = (vars: Partial<Record<keyof Env, unknown>> = {}) => singleModel(vars, { limits: { maxBodyBytes: 10_000 } });

const list = (value: string | null) =>
  (value ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

function preflight(
  gw: ReturnType<typeof setup>["gw"],
  origin: string,
  path = "/v1/chat/completions",
  headers = REQUESTED_HEADERS,
) {
  return gw.fetch(path, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": headers.join(", "),
    },
  });
}

function expectVaryOrigin(res: Response) {
  expect(list(res.headers.get("vary"))).toContain("origin");
}

describe("CORS with ALLOWED_ORIGINS=https://app.example", () => {
  const vars = { ALLOWED_ORIGINS: APP };

  it("a preflight from the allowed origin: 204, that origin, the SDK's and our headers allowed", async () => {
    const { up, gw } = setup(vars);
    const res = await preflight(gw, APP);
    expect(res.status).toBe(204);
    expectVaryOrigin(res);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    const allowed = list(res.headers.get("access-control-allow-headers"));
    for (const h of REQUESTED_HEADERS) expect(allowed).toContain(h);
    expect(list(res.headers.get("access-control-allow-methods"))).toContain("post");
    expect(await res.text()).toBe("");
    expect(await up.calls()).toBe(0);
  });

  it("a preflight needs no client key and allows every x-stainless-* the SDK sends", async () => {
    const { gw } = setup(vars);
    const sdkHeaders = [
      "authorization",
      "content-type",
      "x-stainless-arch",
      "x-stainless-lang",
      "x-stainless-os",
      "x-stainless-package-version",
      "x-stainless-retry-count",
      "x-stainless-runtime",
      "x-stainless-runtime-version",
      "x-stainless-timeout",
      "x-gateway-max-stale",
    ];
    const res = await preflight(gw, APP, "/v1/chat/completions", sdkHeaders);
    expect(res.status).toBe(204);
    const allowed = list(res.headers.get("access-control-allow-headers"));
    for (const h of sdkHeaders) expect(allowed).toContain(h);
  });

  it("a preflight for GET /v1/models is answered too", async () => {
    const { gw } = setup(vars);
    const res = await gw.fetch("/v1/models", {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
  });

  it("a preflight from another origin gets no allow-origin", async () => {
    const { gw } = setup(vars);
    const res = await preflight(gw, EVIL);
    expect(res.status).toBeLessThan(500);
    expectVaryOrigin(res);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-allow-headers")).toBeNull();
  });

  it("an origin that merely starts with the allowed one is not allowed", async () => {
    const { gw } = setup(vars);
    for (const origin of [`${APP}.evil.example`, `${APP}:8443`, "http://app.example", "null"]) {
      const res = await preflight(gw, origin);
      expect(res.headers.get("access-control-allow-origin"), origin).toBeNull();
    }
  });

  it("an actual request from the allowed origin exposes the gateway's headers", async () => {
    const { gw, model } = setup(vars);
    const res = await chat(gw, chatBody(model), { origin: APP });
    expect(res.status).toBe(200);
    expectVaryOrigin(res);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    const exposed = list(res.headers.get("access-control-expose-headers"));
    for (const h of EXPOSED) expect(exposed).toContain(h);
    await res.body?.cancel();
    await gw.settle();
  });

  it("a streamed answer carries the CORS headers too", async () => {
    const { gw, model } = setup(vars);
    const res = await chat(gw, chatBody(model, { stream: true }), { origin: APP });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(list(res.headers.get("access-control-expose-headers"))).toContain("x-gateway-model");
    expect(await res.text()).toContain("[DONE]");
    await gw.settle();
  });

  it("error responses carry CORS headers: 400, 401, 404, 405, 413, 502, 500", async () => {
    const { up, gw, model } = setup(vars);
    await up.fault({ model, mode: "status", status: 503 });
    const responses: [number, Response][] = [
      [400, await chat(gw, "{bad", { origin: APP })],
      [401, await chat(gw, chatBody(model), { origin: APP, authorization: "Bearer nope" })],
      [404, await chat(gw, chatBody(uniqueModel()), { origin: APP })],
      [405, await gw.fetch("/v1/chat/completions", { headers: { origin: APP, authorization: `Bearer ${WEB_KEY}` } })],
      [413, await chat(gw, chatBody(model, { pad: "x".repeat(20_000) }), { origin: APP })],
      [502, await chat(gw, chatBody(model), { origin: APP })],
    ];
    const broken = setup({ ...vars, CLIENT_KEYS: "public:k" });
    responses.push([500, await chat(broken.gw, chatBody(broken.model), { origin: APP })]);
    for (const [status, res] of responses) {
      expect(res.status).toBe(status);
      expect(res.headers.get("access-control-allow-origin"), `status ${status}`).toBe(APP);
      expectVaryOrigin(res);
      const exposed = list(res.headers.get("access-control-expose-headers"));
      for (const h of EXPOSED) expect(exposed, `status ${status}`).toContain(h);
      await res.body?.cancel();
    }
    await gw.settle();
  });

  it("a 429 exposes retry-after and retry-after-ms, which the browser can then read", async () => {
    const { up, gw, model } = setup(vars);
    await up.fault({ model, mode: "status", status: 429, retryAfter: "3" });
    const res = await chat(gw, chatBody(model), { origin: APP });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("3");
    const exposed = list(res.headers.get("access-control-expose-headers"));
    expect(exposed).toContain("retry-after");
    expect(exposed).toContain("retry-after-ms");
    await res.body?.cancel();
    await gw.settle();
  });

  it("an actual request from another origin gets no allow-origin (the answer itself is unaffected)", async () => {
    const { gw, model } = setup(vars);
    const res = await chat(gw, chatBody(model), { origin: EVIL });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-expose-headers")).toBeNull();
    expectVaryOrigin(res);
    await res.body?.cancel();
    await gw.settle();
  });

  it("several origins, comma-separated, are each allowed", async () => {
    const other = "https://other.example";
    const { gw } = setup({ ALLOWED_ORIGINS: `${APP}, ${other}` });
    for (const origin of [APP, other]) {
      const res = await preflight(gw, origin);
      expect(res.headers.get("access-control-allow-origin")).toBe(origin);
    }
    expect((await preflight(gw, EVIL)).headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("admin routes answer no cross-origin requests", () => {
  const ADMIN = "admin-token-for-cors-test";

  it.each([[APP], ["*"]])("ALLOWED_ORIGINS=%s: no CORS headers on /admin, preflight not allowed", async (allowed) => {
    const { gw } = setup({ ALLOWED_ORIGINS: allowed, ADMIN_TOKEN: ADMIN });
    const pre = await gw.fetch("/admin/circuits", {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    expect(pre.headers.get("access-control-allow-headers")).toBeNull();
    const res = await gw.fetch("/admin/circuits", { headers: { origin: APP, authorization: `Bearer ${ADMIN}` } });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-expose-headers")).toBeNull();
    await res.body?.cancel();
    const reset = await gw.fetch("/admin/circuits/whatever/reset", {
      method: "POST",
      headers: { origin: APP, authorization: `Bearer ${ADMIN}` },
    });
    expect(reset.headers.get("access-control-allow-origin")).toBeNull();
    await reset.body?.cancel();
  });
});

describe("ALLOWED_ORIGINS=* and unset", () => {
  it("`*` allows any origin", async () => {
    const { gw, model } = setup({ ALLOWED_ORIGINS: "*" });
    for (const origin of [APP, EVIL, "http://localhost:3000"]) {
      const pre = await preflight(gw, origin);
      expect(pre.status).toBe(204);
      expect([origin, "*"]).toContain(pre.headers.get("access-control-allow-origin"));
      const res = await chat(gw, chatBody(model), { origin });
      expect([origin, "*"]).toContain(res.headers.get("access-control-allow-origin"));
      await res.body?.cancel();
    }
    await gw.settle();
  });

  it("unset allows none", async () => {
    const { gw, model } = setup({ ALLOWED_ORIGINS: undefined });
    const pre = await preflight(gw, APP);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    const res = await chat(gw, chatBody(model), { origin: APP });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    await res.body?.cancel();
    await gw.settle();
  });

  it("empty allows none", async () => {
    const { gw } = setup({ ALLOWED_ORIGINS: "" });
    expect((await preflight(gw, APP)).headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("GET /healthz and GET /v1/models", () => {
  it("GET /healthz → {status: ok}, no auth needed", async () => {
    const { gw } = setup();
    const res = await gw.fetch("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("with DEV_MODE=true /healthz says so, with warnings", async () => {
    const { gw } = setup({ DEV_MODE: "true" });
    const res = await gw.fetch("/healthz");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; devMode?: boolean; warnings?: string[] };
    expect(body.status).toBe("ok");
    expect(body.devMode).toBe(true);
    expect(Array.isArray(body.warnings)).toBe(true);
    expect(body.warnings?.length).toBeGreaterThan(0);
    expect(body.warnings?.join(" ")).toMatch(/DEV_MODE/);
  });

  it("GET /v1/models lists the configured models in OpenAI list format", async () => {
    const up = new Upstream();
    const models = [uniqueModel(), uniqueModel("deepseek-v3.2"), uniqueModel("gemini-2.5-flash")];
    const gw = gateway(up, { config: { models: Object.fromEntries(models.map((m) => [m, {}])) } });
    const res = await gw.fetch("/v1/models", { headers: { authorization: `Bearer ${WEB_KEY}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = (await res.json()) as {
      object: string;
      data: { id: string; object: string; created: number; owned_by: string }[];
    };
    expect(body.object).toBe("list");
    expect(body.data.map((m) => m.id).sort()).toEqual([...models].sort());
    for (const m of body.data) {
      expect(m.object).toBe("model");
      expect(typeof m.created).toBe("number");
      expect(typeof m.owned_by).toBe("string");
    }
    expect(await up.calls()).toBe(0);
  });

  it("GET /v1/models with the default config lists DESIGN §7's four models", async () => {
    const up = new Upstream();
    const gw = gateway(up);
    const res = await gw.fetch("/v1/models", { headers: { authorization: `Bearer ${WEB_KEY}` } });
    const body = (await res.json()) as { data: { id: string }[] };
    expect(body.data.map((m) => m.id).sort()).toEqual(["claude-sonnet-4.5", "deepseek-v3.2", "gemini-2.5-flash", "gpt-4.1"]);
  });

  it("GET /v1/models from the allowed origin carries CORS headers", async () => {
    const { gw } = setup({ ALLOWED_ORIGINS: APP });
    const res = await gw.fetch("/v1/models", { headers: { authorization: `Bearer ${WEB_KEY}`, origin: APP } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
  });
});
