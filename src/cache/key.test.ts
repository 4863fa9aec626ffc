import { describe, expect, it } from "vitest";
import { cacheKey } from "./key";

const body = {
  model: "gpt-4.1",
  messages: [{ role: "user", content: "hi" }],
  temperature: 0.2,
  tools: [{ type: "function", function: { name: "f", parameters: { b: 1, a: 2 } } }],
};

describe("cacheKey", () => {
  it("does not depend on key order at any depth", async () => {
    const reordered = {
      tools: [{ function: { parameters: { a: 2, b: 1 }, name: "f" }, type: "function" }],
      temperature: 0.2,
      messages: [{ content: "hi", role: "user" }],
      model: "gpt-4.1",
    };
    expect(await cacheKey("web", "gpt-4.1", reordered)).toBe(await cacheKey("web", "gpt-4.1", body));
  });

  it("ignores stream, stream_options and user, and nothing else", async () => {
    const base = await cacheKey("web", "gpt-4.1", body);
    expect(await cacheKey("web", "gpt-4.1", { ...body, stream: true, stream_options: { include_usage: true }, user: "u1" })).toBe(
      base,
    );
    expect(await cacheKey("web", "gpt-4.1", { ...body, temperature: 0.3 })).not.toBe(base);
    expect(await cacheKey("web", "gpt-4.1", { ...body, some_future_parameter: 1 })).not.toBe(base);
  });

  it("separates tenants and the model that answered", async () => {
    const base = await cacheKey("web", "gpt-4.1", body);
    expect(await cacheKey("ios", "gpt-4.1", body)).not.toBe(base);
    expect(await cacheKey("web", "deepseek-v3.2", body)).not.toBe(base);
    expect(base).toMatch(/^c:v1:[0-9a-f]{64}$/);
  });
});

describe("cacheKey scoped to a user", () => {
  it("separates users, keeps a tenant-scoped key unchanged, and gives static-key callers (no user) their own", async () => {
    const tenantScoped = await cacheKey("web", "gpt-4.1", body);
    const alice = await cacheKey("web", "gpt-4.1", body, { user: "alice" });
    expect(await cacheKey("web", "gpt-4.1", body, null)).toBe(tenantScoped);
    expect(alice).not.toBe(tenantScoped);
    expect(await cacheKey("web", "gpt-4.1", body, { user: "bob" })).not.toBe(alice);
    expect(await cacheKey("web", "gpt-4.1", body, { user: null })).not.toBe(tenantScoped);
  });
});
