import { describe, expect, it } from "vitest";
import { type GatewayConfig, resolveConfig } from "./resolve";

function tenants(input: Record<string, unknown>): GatewayConfig["tenants"] {
  const resolved = resolveConfig({ tenants: input });
  if (!resolved.ok) throw new Error(`${resolved.problem.path}: ${resolved.problem.message}`);
  return resolved.config.tenants;
}

describe("tenants.<t>.ipRequestsPerMinute", () => {
  it("defaults to tenants.ip.requestsPerMinute (120) for public and to null for keyed tenants", () => {
    const t = tenants({ web: {} });
    expect(t.ip.requestsPerMinute).toBe(120);
    expect(t.public.ipRequestsPerMinute).toBe(120);
    expect(t.default.ipRequestsPerMinute).toBeNull();
    expect(t.named.get("web")?.ipRequestsPerMinute).toBeNull();
  });

  it("tenants.ip null means no per-IP limit for public, as null does everywhere in tenants", () => {
    const t = tenants({ ip: { requestsPerMinute: null } });
    expect(t.ip.requestsPerMinute).toBeNull();
    expect(t.public.ipRequestsPerMinute).toBeNull();
  });

  it("a named tenant may set it; tenants.default's applies to keyed tenants, not to public", () => {
    const t = tenants({
      default: { ipRequestsPerMinute: 9 },
      ip: { requestsPerMinute: 30 },
      web: {},
      ios: { ipRequestsPerMinute: 7 },
    });
    expect(t.named.get("web")?.ipRequestsPerMinute).toBe(9);
    expect(t.named.get("ios")?.ipRequestsPerMinute).toBe(7);
    expect(t.public.ipRequestsPerMinute).toBe(30);
  });

  it("tenants.public overrides the anonymous tenant's limits, its per-IP limit included", () => {
    const t = tenants({ default: { requestsPerMinute: 50 }, public: { ipRequestsPerMinute: 5, maxTokens: 10 } });
    expect(t.public).toMatchObject({ requestsPerMinute: 50, ipRequestsPerMinute: 5, maxTokens: 10 });
    expect(t.named.has("public")).toBe(false);
    expect(tenants({ public: { ipRequestsPerMinute: null } }).public.ipRequestsPerMinute).toBeNull();
  });

  it.each([[0], [-1], [1.5], ["10"]])("refuses %j, naming the field", (value) => {
    const resolved = resolveConfig({ tenants: { web: { ipRequestsPerMinute: value } } });
    expect(resolved.ok).toBe(false);
    if (!resolved.ok) expect(resolved.problem.path).toBe("GATEWAY_CONFIG.tenants.web.ipRequestsPerMinute");
  });

  it("public's models are checked like any tenant's", () => {
    const resolved = resolveConfig({ tenants: { public: { models: ["nope"] } } });
    expect(resolved.ok).toBe(false);
    if (!resolved.ok) expect(resolved.problem.path).toBe("GATEWAY_CONFIG.tenants.public.models[0]");
  });
});

describe("breaker.slowCallMs and slowCallRateThreshold (DESIGN §18)", () => {
  const models = (input: Record<string, unknown>) => {
    const resolved = resolveConfig(input);
    if (!resolved.ok) throw new Error(`${resolved.problem.path}: ${resolved.problem.message}`);
    return resolved.config.models;
  };

  it("default to off and 0.5; set globally, a model may override them", () => {
    expect(models({ models: { a: {} } }).get("a")?.breaker).toMatchObject({ slowCallMs: null, slowCallRateThreshold: 0.5 });
    const m = models({
      breaker: { slowCallMs: 2_000, slowCallRateThreshold: 0.8 },
      models: { a: {}, b: { breaker: { slowCallMs: 500 } }, c: { breaker: { slowCallMs: null } } },
    });
    expect(m.get("a")?.breaker).toMatchObject({ slowCallMs: 2_000, slowCallRateThreshold: 0.8 });
    expect(m.get("b")?.breaker).toMatchObject({ slowCallMs: 500, slowCallRateThreshold: 0.8 });
    expect(m.get("c")?.breaker.slowCallMs).toBeNull();
  });

  it.each([
    [{ slowCallMs: 0 }, "slowCallMs"],
    [{ slowCallMs: 1.5 }, "slowCallMs"],
    [{ slowCallMs: "1000" }, "slowCallMs"],
    [{ slowCallRateThreshold: 0 }, "slowCallRateThreshold"],
    [{ slowCallRateThreshold: 1.01 }, "slowCallRateThreshold"],
  ])("refuses %j, naming the field", (breaker, field) => {
    const resolved = resolveConfig({ models: { a: { breaker } } });
    expect(resolved.ok).toBe(false);
    if (!resolved.ok) expect(resolved.problem.path).toBe(`GATEWAY_CONFIG.models.a.breaker.${field}`);
  });
});
