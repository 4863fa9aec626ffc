import { exportSPKI } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { chatBody, type GatewayUnderTest, gateway, Upstream, uniqueModel } from "./support/harness";
import { hmacToken, Issuer, jwtTenant, nowSeconds, rawToken } from "./support/jwt";

type ErrorBody = { error: { code: string; type: string; message: string } };

/** A JWT tenant of its own (its issuer, JWKS and usage), beside a static-key tenant `web`. */
async function setup(
  jwt: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
  config: Record<string, unknown> = {},
) {
  const issuer = new Issuer();
  const kid = await issuer.addKey();
  const up = new Upstream();
  const model = uniqueModel();
  const tenant = `u-${crypto.randomUUID().slice(0, 8)}`;
  const staticKey = `gk-${crypto.randomUUID()}`;
  const env = {
    config: {
      models: { [model]: {} },
      retry: { maxRetries: 0 },
      tenants: {
        default: { requestsPerMinute: null },
        ip: { requestsPerMinute: null },
        [tenant]: jwtTenant(issuer, jwt, extra),
      },
      ...config,
    },
    CLIENT_KEYS: `${tenant}:${staticKey},web:gk-web-1111`,
  };
  return { issuer, kid, up, model, tenant, staticKey, env, gw: gateway(up, env) };
}

function send(gw: GatewayUnderTest, token: string, body: unknown, headers: Record<string, string> = {}) {
  return gw.fetch("/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

/** Expects a refusal with `code` that never reached the upstream. */
async function refused(res: Response, status: number, code: string, up: Upstream): Promise<ErrorBody> {
  const body = (await res.json()) as ErrorBody;
  expect({ status: res.status, code: body.error.code }).toEqual({ status, code });
  expect(await up.calls()).toBe(0);
  return body;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("a valid token", () => {
  it("is served as its tenant: the tenant's policy applies and the upstream answers", async () => {
    const { issuer, kid, up, model, gw } = await setup({}, { maxTokens: 7 });
    const res = await send(gw, await issuer.sign({ sub: "alice" }, kid), chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-source")).toBe("upstream");
    const [call] = (await up.stats()).requests;
    expect(call?.body.max_tokens).toBe(7);
    await gw.settle();
  });

  it("with HS256 from a named secret, verified with that secret only", async () => {
    const issuer = new Issuer();
    const up = new Upstream();
    const model = uniqueModel();
    const secret = "a-shared-secret-of-at-least-32-bytes!";
    const tenant = "hs-tenant";
    const config = {
      models: { [model]: {} },
      tenants: { [tenant]: { jwt: { issuer: issuer.iss, audience: "edge-gateway", secret: "APP_JWT_SECRET" } } },
    };
    const gw = gateway(up, { config, APP_JWT_SECRET: secret } as Record<string, unknown>);
    const claims = { iss: issuer.iss, aud: "edge-gateway", sub: "bob", iat: nowSeconds(), exp: nowSeconds() + 60 };
    const good = await hmacToken({ alg: "HS256", typ: "JWT" }, claims, new TextEncoder().encode(secret));
    expect((await send(gw, good, chatBody(model))).status).toBe(200);
    const forged = await hmacToken({ alg: "HS256", typ: "JWT" }, claims, new TextEncoder().encode(`${secret}x`));
    expect((await send(gw, forged, chatBody(model))).status).toBe(401);
    await gw.settle();
  });

  it("whose nbf is in the future but within the clock skew is accepted", async () => {
    const { issuer, kid, model, gw } = await setup({ clockSkewSeconds: 30 });
    expect((await send(gw, await issuer.sign({ sub: "a" }, kid, { nbf: 10 }), chatBody(model))).status).toBe(200);
    await gw.settle();
  });
});

describe("refused tokens never reach the upstream", () => {
  it("expired: 401 token_expired", async () => {
    const { issuer, kid, up, model, gw } = await setup({ clockSkewSeconds: 30 });
    const token = await issuer.sign({ sub: "a" }, kid, { iat: -700, exp: -60 });
    const res = await send(gw, token, chatBody(model));
    await refused(res, 401, "token_expired", up);
    expect(res.headers.get("www-authenticate")).toContain("invalid_token");
    // Within the skew it still passes.
    expect((await send(gw, await issuer.sign({ sub: "a" }, kid, { iat: -700, exp: -10 }), chatBody(model))).status).toBe(200);
    await gw.settle();
  });

  it("not yet valid: 401 token_expired", async () => {
    const { issuer, kid, up, model, gw } = await setup({ clockSkewSeconds: 30 });
    await refused(await send(gw, await issuer.sign({ sub: "a" }, kid, { nbf: 120 }), chatBody(model)), 401, "token_expired", up);
  });

  it("an issuer no tenant has: 401 invalid_token, never a static key's or the anonymous tenant", async () => {
    const { issuer, kid, up, model, env } = await setup();
    const gw = gateway(up, { ...env, ALLOW_ANONYMOUS: "true" });
    const token = await issuer.sign({ sub: "a" }, kid, { iss: "https://someone-else.example/" });
    await refused(await send(gw, token, chatBody(model)), 401, "invalid_token", up);
  });

  it("a wrong audience: 401 invalid_token", async () => {
    const { issuer, kid, up, model, gw } = await setup();
    await refused(
      await send(gw, await issuer.sign({ sub: "a" }, kid, { aud: "another-api" }), chatBody(model)),
      401,
      "invalid_token",
      up,
    );
  });

  it("a bad signature: 401 invalid_token", async () => {
    const { issuer, kid, up, model, gw } = await setup();
    const [header, , signature] = (await issuer.sign({ sub: "alice" }, kid)).split(".");
    const payload = rawToken({}, { iss: issuer.iss, aud: "edge-gateway", sub: "mallory", exp: nowSeconds() + 60 }).split(".")[1];
    await refused(await send(gw, `${header}.${payload}.${signature}`, chatBody(model)), 401, "invalid_token", up);
    // A key the issuer never published, under a published kid.
    const other = new Issuer();
    const otherKid = await other.addKey("ES256", false);
    const foreign = (await other.sign({ sub: "a" }, otherKid, { iss: issuer.iss })).split(".");
    const [, fp, fs] = foreign;
    const relabelled = `${rawToken({ alg: "ES256", kid, typ: "JWT" }, {}).split(".")[0]}.${fp}.${fs}`;
    await refused(await send(gw, relabelled, chatBody(model)), 401, "invalid_token", up);
  });

  it("alg none: 401 invalid_token", async () => {
    const { issuer, up, model, gw } = await setup();
    const token = rawToken(
      { alg: "none", typ: "JWT" },
      { iss: issuer.iss, aud: "edge-gateway", sub: "a", exp: nowSeconds() + 60 },
    );
    await refused(await send(gw, token, chatBody(model)), 401, "invalid_token", up);
  });

  it("HS256 signed with the issuer's RSA public key: 401 invalid_token, and no JWKS fetch", async () => {
    const { issuer, up, model, gw } = await setup();
    const rsaKid = await issuer.addKey("RS256");
    const before = await issuer.fetches();
    const claims = { iss: issuer.iss, aud: "edge-gateway", sub: "a", exp: nowSeconds() + 60 };
    const key = issuer.keys.get(rsaKid);
    if (!key) throw new Error("no key");
    const pem = await exportSPKI(key.publicKey);
    for (const secret of [pem, JSON.stringify(key.publicJwk)]) {
      const token = await hmacToken({ alg: "HS256", kid: rsaKid, typ: "JWT" }, claims, new TextEncoder().encode(secret));
      await refused(await send(gw, token, chatBody(model)), 401, "invalid_token", up);
    }
    expect(await issuer.fetches()).toBe(before);
  });

  it("an algorithm the tenant does not list: 401 invalid_token", async () => {
    const { issuer, up, model, gw } = await setup({ algorithms: ["ES256"] });
    const rsaKid = await issuer.addKey("RS256");
    await refused(await send(gw, await issuer.sign({ sub: "a" }, rsaKid), chatBody(model)), 401, "invalid_token", up);
  });

  it("no user claim: 401 invalid_token", async () => {
    const { issuer, kid, up, model, gw } = await setup({ userClaim: "uid" });
    const body = await refused(await send(gw, await issuer.sign({ sub: "a" }, kid), chatBody(model)), 401, "invalid_token", up);
    expect(body.error.message).toContain("uid");
    expect((await send(gw, await issuer.sign({ uid: "a" }, kid), chatBody(model))).status).toBe(200);
    await gw.settle();
  });

  it("a lifetime over maxLifetimeSeconds, or no exp at all: 401 invalid_token", async () => {
    const { issuer, kid, up, model, gw } = await setup({ maxLifetimeSeconds: 3600 });
    await refused(await send(gw, await issuer.sign({ sub: "a" }, kid, { exp: 7200 }), chatBody(model)), 401, "invalid_token", up);
    await refused(
      await send(gw, await issuer.sign({ sub: "a" }, kid, { iat: -3000, exp: 1200 }), chatBody(model)),
      401,
      "invalid_token",
      up,
    );
    await refused(await send(gw, await issuer.sign({ sub: "a" }, kid, { exp: null }), chatBody(model)), 401, "invalid_token", up);
  });

  it("a token over 8 KiB: 401 invalid_token", async () => {
    const { issuer, kid, up, model, gw } = await setup();
    const token = await issuer.sign({ sub: "a", padding: "x".repeat(8 * 1024) }, kid);
    await refused(await send(gw, token, chatBody(model)), 401, "invalid_token", up);
  });

  it("three segments that are not base64url JSON: 401 invalid_token, even with anonymous callers allowed", async () => {
    const { up, model, env } = await setup();
    const gw = gateway(up, { ...env, ALLOW_ANONYMOUS: "true" });
    for (const token of ["abc.def.ghi", "e30.e30.", `${btoa("[1]")}.e30.sig`]) {
      await refused(await send(gw, token, chatBody(model)), 401, "invalid_token", up);
    }
  });
});

describe("static keys and jwt.required", () => {
  it("refuses the tenant's static key with 401 jwt_required; required: false accepts both", async () => {
    const { up, model, staticKey, gw } = await setup();
    await refused(await send(gw, staticKey, chatBody(model)), 401, "jwt_required", up);
    const open = await setup({ required: false });
    expect((await send(open.gw, open.staticKey, chatBody(open.model))).status).toBe(200);
    expect((await send(open.gw, await open.issuer.sign({ sub: "a" }, open.kid), chatBody(open.model))).status).toBe(200);
    // Another tenant's static key is untouched.
    expect((await send(gw, "gk-web-1111", chatBody(model))).status).toBe(200);
    await Promise.all([gw.settle(), open.gw.settle()]);
  });
});

describe("the configuration", () => {
  it("two tenants with the same issuer and audience: 500 naming the field", async () => {
    const { issuer, kid, up, model, env, tenant } = await setup();
    const tenants = { ...env.config.tenants, twin: jwtTenant(issuer) };
    const gw = gateway(up, { ...env, config: { ...env.config, tenants } });
    const res = await send(gw, await issuer.sign({ sub: "a" }, kid), chatBody(model));
    const body = (await res.json()) as ErrorBody;
    expect(res.status).toBe(500);
    expect(body.error.code).toBe("config_error");
    expect(body.error.message).toContain("GATEWAY_CONFIG.tenants.twin.jwt.audience");
    expect(body.error.message).toContain(tenant);
  });

  it("a missing or short HS256 secret: 500 naming the field", async () => {
    const up = new Upstream();
    const jwt = { issuer: "https://x.example/", audience: "a", secret: "APP_JWT_SECRET" };
    const config = { tenants: { hs: { jwt } } };
    for (const vars of [{}, { APP_JWT_SECRET: "short" }]) {
      const res = await gateway(up, { config, ...vars } as Record<string, unknown>).fetch("/v1/models");
      expect(res.status).toBe(500);
      expect(((await res.json()) as ErrorBody).error.message).toContain("GATEWAY_CONFIG.tenants.hs.jwt.secret");
    }
  });
});

describe("the JWKS", () => {
  it("is fetched once per isolate under load, and not again while fresh", async () => {
    const { issuer, kid, env, up } = await setup();
    const gw = gateway(up, env);
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => issuer.sign({ sub: `user-${i}` }, kid)));
    const models = (token: string) => gw.fetch("/v1/models", { headers: { authorization: `Bearer ${token}` } });
    expect((await Promise.all(tokens.map(models))).map((r) => r.status)).toEqual(tokens.map(() => 200));
    expect((await Promise.all(tokens.map(models))).map((r) => r.status)).toEqual(tokens.map(() => 200));
    expect(await issuer.fetches()).toBe(1);
    await gw.settle();
  });

  it("an unknown kid refetches at most once every 30 s; with the JWKS unchanged it is then refused", async () => {
    const { issuer, kid, up, model, gw } = await setup();
    expect((await send(gw, await issuer.sign({ sub: "a" }, kid), chatBody(model))).status).toBe(200);
    expect(await issuer.fetches()).toBe(1);
    const unknown = await issuer.addKey("ES256", false);
    const token = await issuer.sign({ sub: "a" }, unknown);
    // Just fetched: the kid is simply unknown, no refetch.
    expect((await send(gw, token, chatBody(model))).status).toBe(401);
    expect(await issuer.fetches()).toBe(1);
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + 31_000);
    const res = await send(gw, token, chatBody(model));
    expect(((await res.json()) as ErrorBody).error.code).toBe("invalid_token");
    expect(await issuer.fetches()).toBe(2);
    expect((await send(gw, token, chatBody(model))).status).toBe(401);
    expect(await issuer.fetches()).toBe(2);
    expect(await up.calls()).toBe(1);
    await gw.settle();
  });

  it("a rotated key is found by the refetch its new kid triggers", async () => {
    const { issuer, kid, model, gw } = await setup();
    expect((await send(gw, await issuer.sign({ sub: "a" }, kid), chatBody(model))).status).toBe(200);
    const rotated = await issuer.addKey();
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + 31_000);
    expect((await send(gw, await issuer.sign({ sub: "a" }, rotated), chatBody(model))).status).toBe(200);
    expect(await issuer.fetches()).toBe(2);
    await gw.settle();
  });

  it("down, with a cached key: served at once from the stale key, refreshed in the background", async () => {
    const { issuer, kid, model, gw } = await setup({ jwksCacheSeconds: 30 });
    expect((await send(gw, await issuer.sign({ sub: "a" }, kid), chatBody(model))).status).toBe(200);
    await issuer.mode({ down: true, delayMs: 2_000 });
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + 60_000);
    const started = performance.now();
    expect((await send(gw, await issuer.sign({ sub: "a" }, kid), chatBody(model))).status).toBe(200);
    expect(performance.now() - started).toBeLessThan(1_000);
    await gw.settle();
    expect(await issuer.fetches()).toBe(2);
    expect((await send(gw, await issuer.sign({ sub: "a" }, kid), chatBody(model))).status).toBe(200);
    await gw.settle();
    expect(await issuer.fetches()).toBe(2);
  });

  it("down, with no cached key: 503 identity_unavailable with a Retry-After of at most 30 s", async () => {
    const { issuer, kid, up, model, gw } = await setup();
    await issuer.mode({ down: true });
    const res = await send(gw, await issuer.sign({ sub: "a" }, kid), chatBody(model));
    await refused(res, 503, "identity_unavailable", up);
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    // Back up, the isolate recovers once the Retry-After has passed.
    await issuer.mode({ down: false });
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + retryAfter * 1000);
    expect((await send(gw, await issuer.sign({ sub: "a" }, kid), chatBody(model))).status).toBe(200);
    await gw.settle();
  });
});

describe("cache scope", () => {
  /** A tenant whose model fails after one good answer, so only the cache can serve what follows. */
  async function cached(scope: "user" | "tenant") {
    const s = await setup({}, {}, { fallbackOrder: ["cache"] });
    const config = { ...s.env.config, cache: { tenants: { [s.tenant]: { scope } } } };
    const gw = gateway(s.up, { ...s.env, config });
    const ask = async (user: string) => send(gw, await s.issuer.sign({ sub: user }, s.kid), chatBody(s.model));
    expect((await ask("alice")).headers.get("x-gateway-source")).toBe("upstream");
    await gw.settle();
    await s.up.fault({ model: s.model, mode: "status", status: 500 });
    return { ask, gw };
  }

  it('"user": a user\'s answer serves only that user', async () => {
    const { ask, gw } = await cached("user");
    const alice = await ask("alice");
    expect(alice.status).toBe(200);
    expect(alice.headers.get("x-gateway-source")).toBe("cache");
    expect((await ask("bob")).status).toBe(502);
    await gw.settle();
  });

  it('"tenant" (the default): the same request from another user is served from the cache', async () => {
    const { ask, gw } = await cached("tenant");
    const bob = await ask("bob");
    expect(bob.status).toBe(200);
    expect(bob.headers.get("x-gateway-source")).toBe("cache");
    await gw.settle();
  });
});

describe("privacy", () => {
  it("the user id is in no metric label, and logs carry only its SHA-256 prefix", async () => {
    const { issuer, kid, model, env, up } = await setup({ maxLifetimeSeconds: 600 });
    const gw = gateway(up, { ...env, ADMIN_TOKEN: "admin-token-privacy" });
    const user = `user-${crypto.randomUUID()}`;
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => lines.push(args.map(String).join(" ")));
    }
    expect((await send(gw, await issuer.sign({ sub: user }, kid), chatBody(model))).status).toBe(200);
    expect((await send(gw, await issuer.sign({ sub: user }, kid, { exp: 3600 }), chatBody(model))).status).toBe(401);
    await gw.settle();
    const metrics = await (await gw.fetch("/admin/metrics", { headers: { authorization: "Bearer admin-token-privacy" } })).text();
    expect(metrics).toContain("gateway_");
    expect(metrics).not.toContain(user);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(user)));
    const prefix = [...digest]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("")
      .slice(0, 12);
    expect(lines.join("\n")).not.toContain(user);
    expect(lines.some((l) => l.includes("jwt_refused") && l.includes(prefix))).toBe(true);
  });
});
