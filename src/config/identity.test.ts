import { describe, expect, it } from "vitest";
import { resolveConfig } from "./resolve";

const jwt = {
  issuer: "https://auth.example.com/",
  audience: "edge-gateway",
  jwksUrl: "https://auth.example.com/.well-known/jwks.json",
};

function problem(tenants: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const resolved = resolveConfig({ tenants, ...extra });
  return resolved.ok ? null : resolved.problem;
}

function identity(tenants: Record<string, unknown>) {
  const resolved = resolveConfig({ tenants });
  if (!resolved.ok) throw new Error(`${resolved.problem.path}: ${resolved.problem.message}`);
  return resolved.config.identity;
}

describe("tenants.<t>.jwt", () => {
  it("fills DESIGN §14's defaults", () => {
    expect(identity({ web: { jwt } }).tenants.get("web")?.jwt).toEqual({
      issuer: jwt.issuer,
      audience: jwt.audience,
      keys: { kind: "jwks", url: jwt.jwksUrl },
      algorithms: ["RS256", "ES256", "EdDSA"],
      userClaim: "sub",
      clockSkewSeconds: 30,
      maxLifetimeSeconds: 86_400,
      required: true,
      jwksCacheSeconds: 600,
    });
  });

  it("a named secret means HS256 by default and only HMAC algorithms", () => {
    const t = identity({ web: { jwt: { issuer: "i", audience: "a", secret: "WEB_JWT_SECRET" } } }).tenants.get("web");
    expect(t?.jwt.keys).toEqual({ kind: "secret", name: "WEB_JWT_SECRET" });
    expect(t?.jwt.algorithms).toEqual(["HS256"]);
  });

  it.each([
    [{ ...jwt, algorithms: ["none"] }, "GATEWAY_CONFIG.tenants.web.jwt.algorithms[0]"],
    [{ ...jwt, algorithms: ["ES256", "HS256"] }, "GATEWAY_CONFIG.tenants.web.jwt.algorithms[1]"],
    [{ issuer: "i", audience: "a", secret: "S", algorithms: ["RS256"] }, "GATEWAY_CONFIG.tenants.web.jwt.algorithms[0]"],
    [{ ...jwt, secret: "S" }, "GATEWAY_CONFIG.tenants.web.jwt.secret"],
    [{ issuer: "i", audience: "a" }, "GATEWAY_CONFIG.tenants.web.jwt.jwksUrl"],
    [{ ...jwt, jwksUrl: "http://auth.example.com/jwks.json" }, "GATEWAY_CONFIG.tenants.web.jwt.jwksUrl"],
    [{ ...jwt, jwksUrl: "ftp://auth.example.com/jwks.json" }, "GATEWAY_CONFIG.tenants.web.jwt.jwksUrl"],
    [{ ...jwt, jwksUrl: "not a url" }, "GATEWAY_CONFIG.tenants.web.jwt.jwksUrl"],
    [{ issuer: "i", audience: "a", secret: "HOLYSHEEP_API_KEY" }, "GATEWAY_CONFIG.tenants.web.jwt.secret"],
    [{ ...jwt, clockSkewSeconds: -1 }, "GATEWAY_CONFIG.tenants.web.jwt.clockSkewSeconds"],
    [{ ...jwt, audience: "" }, "GATEWAY_CONFIG.tenants.web.jwt.audience"],
    [{ ...jwt, surprise: true }, "GATEWAY_CONFIG.tenants.web.jwt.surprise"],
  ])("refuses %j, naming the field", (bad, path) => {
    expect(problem({ web: { jwt: bad } })?.path).toBe(path);
  });

  it("plain http: is allowed for localhost and 127.0.0.1 only", () => {
    for (const host of ["localhost:8787", "127.0.0.1:9999"]) {
      expect(problem({ web: { jwt: { ...jwt, jwksUrl: `http://${host}/jwks.json` } } })).toBeNull();
    }
    expect(problem({ web: { jwt: { ...jwt, jwksUrl: "http://10.0.0.1/jwks.json" } } })?.path).toBe(
      "GATEWAY_CONFIG.tenants.web.jwt.jwksUrl",
    );
  });

  it("two tenants with the same issuer and audience are an error; another audience tells them apart", () => {
    expect(problem({ web: { jwt }, ios: { jwt } })?.path).toBe("GATEWAY_CONFIG.tenants.ios.jwt.audience");
    const both = identity({ web: { jwt }, ios: { jwt: { ...jwt, audience: "ios-app" } } });
    expect(both.byIssuer.get(jwt.issuer)?.map((t) => t.tenant)).toEqual(["web", "ios"]);
  });

  it("is set per named tenant only", () => {
    for (const name of ["default", "public"])
      expect(problem({ [name]: { jwt } })?.path).toBe(`GATEWAY_CONFIG.tenants.${name}.jwt`);
  });
});

describe("perUser and tiers", () => {
  it("need jwt", () => {
    expect(problem({ web: { perUser: { requestsPerMinute: 5 } } })?.path).toBe("GATEWAY_CONFIG.tenants.web.perUser");
    expect(problem({ web: { tiers: { claim: "plan", levels: {} } } })?.path).toBe("GATEWAY_CONFIG.tenants.web.tiers");
  });

  it("a level overrides perUser field by field; absent fields mean no limit", () => {
    const t = identity({
      web: {
        jwt,
        perUser: { requestsPerMinute: 20, dailyBudgetUsd: 0.5, maxTokens: 1024 },
        tiers: { claim: "plan", levels: { pro: { requestsPerMinute: 120, dailyBudgetUsd: 5 }, constructor: {} } },
      },
    }).tenants.get("web");
    expect(t?.perUser).toEqual({ requestsPerMinute: 20, dailyBudgetUsd: 0.5, maxTokens: 1024, models: null });
    expect(t?.tiers?.claim).toBe("plan");
    expect(t?.tiers?.levels.get("pro")).toEqual({ requestsPerMinute: 120, dailyBudgetUsd: 5, maxTokens: 1024, models: null });
    expect(t?.tiers?.levels.get("constructor")).toEqual(t?.perUser);
    expect(t?.tiers?.levels.has("toString")).toBe(false);
  });

  it("their models must be configured models, and their numbers valid", () => {
    expect(problem({ web: { jwt, perUser: { models: ["nope"] } } })?.path).toBe("GATEWAY_CONFIG.tenants.web.perUser.models[0]");
    expect(problem({ web: { jwt, tiers: { claim: "plan", levels: { pro: { models: ["nope"] } } } } })?.path).toBe(
      "GATEWAY_CONFIG.tenants.web.tiers.levels.pro.models[0]",
    );
    expect(problem({ web: { jwt, perUser: { requestsPerMinute: 0 } } })?.path).toBe(
      "GATEWAY_CONFIG.tenants.web.perUser.requestsPerMinute",
    );
  });
});

describe("cache.tenants.<t>.scope", () => {
  it('"user" scopes a tenant\'s cache per user; "tenant" is the default', () => {
    const resolved = resolveConfig({
      cache: { tenants: { web: { scope: "user" }, ios: { scope: "tenant" }, off: { enabled: false } } },
    });
    if (!resolved.ok) throw new Error(resolved.problem.path);
    expect([...resolved.config.cache.userScopedTenants]).toEqual(["web"]);
    expect([...resolved.config.cache.disabledTenants]).toEqual(["off"]);
    const bad = resolveConfig({ cache: { tenants: { web: { scope: "everyone" } } } });
    expect(bad.ok ? null : bad.problem.path).toBe("GATEWAY_CONFIG.cache.tenants.web.scope");
  });
});
