import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { epochMinute, type UsageDelta } from "../src/tenants/protocol";
import { expectOpenAIError } from "./support/expect";
import { awayFromMinuteEnd, type GatewayUnderTest, gateway, Upstream, uniqueModel } from "./support/harness";
import { Issuer, jwtTenant } from "./support/jwt";
import { setTenantObjectDown, tenantObjectCalls } from "./support/tenant-faults";

/**
 * DESIGN §14: an end user's requests count against their own bucket (`perUser`, or their tier's
 * level) and against their tenant's, with §13's hard bounds across isolates; their `maxTokens`
 * and `models` narrow the tenant's. Prices are $8 per million tokens both ways; every request says
 * "hi there" (3 prompt tokens estimated) with `max_tokens: 10`, so it reserves 13 tokens, and the
 * upstream reports exactly that usage, so an answer costs what it reserved.
 */
const PRICE = 8 / 1_000_000;
const RESERVE = 13 * PRICE;
const TOKEN = "user-limits-admin";
const EXACT = { prompt_tokens: 3, completion_tokens: 10 };

type Models = { model: string; cheap: string; third: string };

/** A JWT tenant of its own (its entry may name the models made here) on two isolates. */
async function setup(entry: Record<string, unknown> | ((m: Models) => Record<string, unknown>)) {
  const issuer = new Issuer();
  const kid = await issuer.addKey();
  const up = new Upstream();
  const model = uniqueModel();
  const cheap = uniqueModel("deepseek-v3.2");
  const third = uniqueModel("gemini-2.5-flash");
  const tenant = `u-${crypto.randomUUID().slice(0, 8)}`;
  const tenantEntry = typeof entry === "function" ? entry({ model, cheap, third }) : entry;
  const models = {
    [model]: { fallbacks: [cheap], priceUsdPerMTok: 8 },
    [cheap]: { priceUsdPerMTok: 8 },
    [third]: { priceUsdPerMTok: 8 },
  };
  const config = {
    models,
    retry: { maxRetries: 0 },
    breaker: { failureThreshold: 100 },
    tenants: {
      default: { requestsPerMinute: null },
      ip: { requestsPerMinute: null },
      [tenant]: jwtTenant(issuer, {}, tenantEntry),
    },
  };
  const vars = { config, ADMIN_TOKEN: TOKEN };
  await up.fault({ model: "*", mode: "ok", usage: EXACT });
  const token = (sub: string, claims: Record<string, unknown> = {}) => issuer.sign({ sub, ...claims }, kid);
  return { up, model, cheap, third, tenant, token, a: gateway(up, vars), b: gateway(up, vars) };
}

function send(gw: GatewayUnderTest, token: string, body: Record<string, unknown>) {
  return gw.fetch("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi there" }], max_tokens: 10, ...body }),
  });
}

/** Sends `n` requests at once, alternating between the two isolates; answers the status codes and error codes. */
async function burst(gws: GatewayUnderTest[], token: string, body: Record<string, unknown>, n: number) {
  const res = await Promise.all(Array.from({ length: n }, (_, i) => send(gws[i % gws.length] as GatewayUnderTest, token, body)));
  const bodies = await Promise.all(res.map((r) => r.json() as Promise<{ error?: { code: string } }>));
  return {
    served: res.filter((r) => r.status === 200).length,
    codes: new Set(bodies.flatMap((b) => (b.error ? [b.error.code] : []))),
  };
}

/** The window is the UTC minute: a burst is not split across a minute's end. */
const usageOf = (bucket: string) => env.TENANTS.getByName(bucket).sync([]);

async function settle(...gws: GatewayUnderTest[]) {
  await Promise.all(gws.map((g) => g.settle()));
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("per-user limits hold across isolates (DESIGN §14)", () => {
  it("a user over perUser.requestsPerMinute is refused while another user of the tenant is served", async () => {
    const { up, model, tenant, token, a, b } = await setup({ perUser: { requestsPerMinute: 3 } });
    await awayFromMinuteEnd();
    const alice = await burst([a, b], await token("alice"), { model }, 12);
    expect(alice.served).toBe(3);
    expect(alice.codes).toEqual(new Set(["user_rate_limited"]));
    const bob = await burst([a, b], await token("bob"), { model }, 2);
    expect(bob.served).toBe(2);
    expect(await up.calls()).toBe(5);
    await settle(a, b);
    expect((await usageOf(`user:${tenant}:alice`)).minuteRequests).toBe(3);
    expect((await usageOf(`tenant:${tenant}`)).minuteRequests).toBe(5);
  });

  it("a user over perUser.dailyBudgetUsd is refused with Retry-After while another user is served", async () => {
    const { model, tenant, token, a, b } = await setup({ perUser: { dailyBudgetUsd: 2.5 * RESERVE } });
    const alice = await token("alice");
    const first = await burst([a, b], alice, { model }, 10);
    expect(first.served).toBe(2);
    expect(first.codes).toEqual(new Set(["user_budget_exceeded"]));
    await settle(a, b);
    // Every answer is settled; the third reservation does not fit what is left, on either isolate.
    const again = await send(b, alice, { model });
    expect(Number(again.headers.get("retry-after"))).toBeGreaterThan(0);
    await expectOpenAIError(again, 429, { type: "rate_limit_error", code: "user_budget_exceeded", message: /for this user/ });
    expect((await send(a, await token("bob"), { model })).status).toBe(200);
    await settle(a, b);
    expect((await usageOf(`user:${tenant}:alice`)).daySpendUsd).toBeCloseTo(2 * RESERVE, 12);
  });

  it("a token with plan: pro gets the pro tier's limits; one without the claim gets perUser", async () => {
    const tiers = { claim: "plan", levels: { pro: { requestsPerMinute: 5 } } };
    const { model, token, a, b } = await setup({ perUser: { requestsPerMinute: 2 }, tiers });
    await awayFromMinuteEnd();
    const pro = await burst([a, b], await token("paula", { plan: "pro" }), { model }, 9);
    expect(pro.served).toBe(5);
    const free = await burst([a, b], await token("fred"), { model }, 9);
    expect(free.served).toBe(2);
    expect(free.codes).toEqual(new Set(["user_rate_limited"]));
    await settle(a, b);
  });

  it("an unknown tier value gets perUser", async () => {
    const tiers = { claim: "plan", levels: { pro: { requestsPerMinute: 5 } } };
    const { model, token, a, b } = await setup({ perUser: { requestsPerMinute: 2 }, tiers });
    await awayFromMinuteEnd();
    for (const plan of ["platinum", "PRO", 7]) {
      const res = await burst([a, b], await token(`u-${String(plan)}`, { plan }), { model }, 6);
      expect(res.served, String(plan)).toBe(2);
    }
    await settle(a, b);
  });
});

describe("the tenant's limits hold for the sum of its users", () => {
  it("requests: users each within perUser cannot pass the tenant's requestsPerMinute together", async () => {
    const { up, model, tenant, token, a, b } = await setup({ requestsPerMinute: 5, perUser: { requestsPerMinute: 3 } });
    await awayFromMinuteEnd();
    const tokens = await Promise.all(["alice", "bob", "carol"].map((u) => token(u)));
    const res = await Promise.all(tokens.map((t) => burst([a, b], t, { model }, 3)));
    // Never past the tenant's 5, though its users' own limits would take 9.
    let served = res.reduce((n, r) => n + r.served, 0);
    expect(served).toBeLessThanOrEqual(5);
    expect(res.every((r) => r.served <= 3)).toBe(true);
    const codes = new Set(res.flatMap((r) => [...r.codes]));
    expect(codes.has("tenant_rate_limited")).toBe(true);
    expect([...codes].every((c) => c === "tenant_rate_limited" || c === "user_rate_limited")).toBe(true);
    // Leases an isolate held for requests another bucket refused go back when their term ends:
    // then new users take what is left of the tenant's 5, and no more.
    await settle(a, b);
    let refused: Response | null = null;
    for (let i = 0; i < 6 && refused === null; i++) {
      const res = await send(a, await token(`late-${i}`), { model });
      if (res.status !== 200) refused = res;
      else {
        served++;
        await res.text();
      }
    }
    expect(served).toBe(5);
    await expectOpenAIError(refused as Response, 429, { code: "tenant_rate_limited" });
    expect(await up.calls()).toBe(5);
    await settle(a, b);
    expect((await usageOf(`tenant:${tenant}`)).minuteRequests).toBe(5);
  });

  it("spend: each user within their budget, the tenant's budget refuses the one past it", async () => {
    const { model, token, a, b } = await setup({ dailyBudgetUsd: 2.5 * RESERVE, perUser: { dailyBudgetUsd: 1.5 * RESERVE } });
    const alice = await token("alice");
    expect((await send(a, alice, { model })).status).toBe(200);
    await settle(a);
    await expectOpenAIError(await send(a, alice, { model }), 429, { code: "user_budget_exceeded" });
    expect((await send(b, await token("bob"), { model })).status).toBe(200);
    await settle(b);
    await expectOpenAIError(await send(a, await token("carol"), { model }), 429, { code: "budget_exceeded" });
    await settle(a, b);
  });
});

describe("a user's maxTokens and models narrow the tenant's", () => {
  it("maxTokens: the stricter of tenant's and user's bounds max_tokens and max_completion_tokens", async () => {
    const tiers = { claim: "plan", levels: { pro: { maxTokens: 200 } } };
    const { up, model, token, a } = await setup({ maxTokens: 100, perUser: { maxTokens: 50 }, tiers });
    const free = await token("fred");
    await expectOpenAIError(await send(a, free, { model, max_tokens: 80 }), 400, { code: "invalid_value", param: "max_tokens" });
    await expectOpenAIError(await send(a, free, { model, max_tokens: undefined, max_completion_tokens: 60 }), 400, {
      param: "max_completion_tokens",
    });
    expect((await send(a, free, { model, max_tokens: undefined })).status).toBe(200);
    const pro = await token("paula", { plan: "pro" });
    await expectOpenAIError(await send(a, pro, { model, max_tokens: 150 }), 400, { param: "max_tokens" });
    expect((await send(a, pro, { model, max_tokens: undefined })).status).toBe(200);
    const sent = (await up.stats()).requests.map((r) => r.body.max_tokens);
    expect(sent).toEqual([50, 100]);
    await settle(a);
  });

  it("the reservation uses the user's maxTokens: uncapped, the same request does not fit the user's budget", async () => {
    const tiers = { claim: "plan", levels: { open: { maxTokens: null } } };
    const { model, token, a } = await setup({ perUser: { maxTokens: 10, dailyBudgetUsd: 1.5 * RESERVE }, tiers });
    expect((await send(a, await token("capped"), { model, max_tokens: undefined })).status).toBe(200);
    // 3 + 4096 tokens reserved: far past the user's budget, though the answer would cost 13.
    const open = await send(a, await token("open", { plan: "open" }), { model, max_tokens: undefined });
    await expectOpenAIError(open, 429, { code: "user_budget_exceeded" });
    await settle(a);
  });

  it("models: a user may request, and be served by a fallback to, only models both lists allow", async () => {
    // The tenant allows model and cheap; perUser only model; the pro tier every model.
    const { up, model, cheap, third, token, a } = await setup((m) => ({
      models: [m.model, m.cheap],
      perUser: { models: [m.model] },
      tiers: { claim: "plan", levels: { pro: { models: [m.model, m.cheap, m.third] } } },
    }));
    const free = await token("fred");
    await expectOpenAIError(await send(a, free, { model: cheap }), 404, { code: "model_not_found", param: "model" });
    await up.fault({ model, mode: "status", status: 503 });
    const failed = await send(a, free, { model });
    expect(failed.status).not.toBe(200);
    await failed.text();
    expect(await up.calls(cheap)).toBe(0);
    const pro = await token("paula", { plan: "pro" });
    const rescued = await send(a, pro, { model });
    expect(rescued.status).toBe(200);
    expect(rescued.headers.get("x-gateway-model")).toBe(cheap);
    await rescued.text();
    // The tenant's list still holds for a user whose own list is wider.
    await expectOpenAIError(await send(a, pro, { model: third }), 404, { code: "model_not_found" });
    await settle(a);
  });
});

type UsersBody = {
  users: { user: string; tier: string | null; today: { requests: number; spendUsd: number }; thisMinute: { requests: number } }[];
};

const admin = (gw: GatewayUnderTest, path: string) => gw.fetch(path, { headers: { authorization: `Bearer ${TOKEN}` } });

describe("GET /admin/tenants/:tenant/users", () => {
  it("lists the tenant's users with their tier, highest spend first, at most `limit`", async () => {
    const tiers = { claim: "plan", levels: { pro: { requestsPerMinute: 50 } } };
    const { model, tenant, token, a, b } = await setup({ perUser: { requestsPerMinute: 20 }, tiers });
    await awayFromMinuteEnd();
    const plan = { alice: 3, bob: 1, carol: 2 } as const;
    for (const [user, n] of Object.entries(plan)) {
      const t = await token(user, user === "alice" ? { plan: "pro" } : {});
      for (let i = 0; i < n; i++) expect((await send(i % 2 === 0 ? a : b, t, { model })).status).toBe(200);
    }
    await settle(a, b);
    const all = (await (await admin(a, `/admin/tenants/${tenant}/users`)).json()) as UsersBody;
    expect(all.users.map((u) => [u.user, u.tier, u.today.requests, u.thisMinute.requests])).toEqual([
      ["alice", "pro", 3, 3],
      ["carol", null, 2, 2],
      ["bob", null, 1, 1],
    ]);
    expect(all.users.map((u) => u.today.spendUsd / RESERVE)).toEqual([3, 2, 1].map((n) => expect.closeTo(n, 9)));
    const two = (await (await admin(b, `/admin/tenants/${tenant}/users?limit=2`)).json()) as UsersBody;
    expect(two.users.map((u) => u.user)).toEqual(["alice", "carol"]);
    for (const bad of ["0", "101", "x", "1.5", ""]) {
      await expectOpenAIError(await admin(a, `/admin/tenants/${tenant}/users?limit=${bad}`), 400, { param: "limit" });
    }
    expect((await admin(a, "/admin/tenants/nobody/users")).status).toBe(404);
  });

  it("a user with no per-user limit costs no object of their own, and is still listed", async () => {
    const { model, tenant, token, a } = await setup({ requestsPerMinute: 50 });
    expect((await send(a, await token("una"), { model })).status).toBe(200);
    await settle(a);
    expect(await tenantObjectCalls(`user:${tenant}:una`)).toBe(0);
    const body = (await (await admin(a, `/admin/tenants/${tenant}/users`)).json()) as UsersBody;
    expect(body.users.map((u) => [u.user, u.today.requests])).toEqual([["una", 1]]);
  });

  it("GET /admin/tenants lists JWT tenants with no client key, dev mode's demo among them, with their per-user limits", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, {
      config: { models: { [model]: {} } },
      DEV_MODE: "true",
      ADMIN_TOKEN: TOKEN,
      CLIENT_KEYS: "web:gk-web-1111",
    });
    const list = (await (await admin(gw, "/admin/tenants")).json()) as {
      tenants: { tenant: string; endUsers: { perUser: { requestsPerMinute: number } } | null }[];
    };
    expect(list.tenants.find((t) => t.tenant === "demo")?.endUsers?.perUser.requestsPerMinute).toBe(20);
    expect(list.tenants.find((t) => t.tenant === "web")?.endUsers).toBeNull();
    expect((await admin(gw, "/admin/tenants/demo/users")).status).toBe(200);
  });
});

describe("a tenant object's tally of its users", () => {
  const stub = () => env.TENANTS.getByName(`tenant:t-${crypto.randomUUID().slice(0, 8)}`);
  /** A report as an isolate sends one, or as a hostile one might (DESIGN §12: reports are untrusted). */
  const report = (users: unknown, minute?: number) => ({
    id: crypto.randomUUID(),
    data: { requests: 0, spendUsd: 0, users, ...(minute === undefined ? {} : { minute }) } as UsageDelta,
  });

  it("keeps the 10,000 who spent most today: a new user takes the place of the one who spent least", async () => {
    const tenant = stub();
    const users = Array.from({ length: 10_000 }, (_, i) => ({ user: `u${i}`, tier: null, requests: 1, spendUsd: 1 + i }));
    for (let i = 0; i < users.length; i += 1000) await tenant.sync([report(users.slice(i, i + 1000))]);
    await tenant.sync([report([{ user: "newcomer", tier: "pro", requests: 1, spendUsd: 0.5 }])]);
    const kept = await tenant.topUsers(20_000);
    expect(kept).toHaveLength(10_000);
    expect(kept.map((u) => u.user)).not.toContain("u0");
    expect(kept.at(-1)).toMatchObject({ user: "newcomer", tier: "pro", today: { requests: 1, spendUsd: 0.5 } });
    expect(kept[0]).toMatchObject({ user: "u9999", today: { spendUsd: 10_000 } });
  });

  it("drops entries that are no user or no count, and applies the rest; requests of an earlier minute count in the day only", async () => {
    const tenant = stub();
    await awayFromMinuteEnd();
    const minute = epochMinute(Date.now());
    const good = { user: "ok", tier: null, requests: 2, earlierRequests: 3, spendUsd: 0.25 };
    const bad = [
      { user: "", tier: null, requests: 1, spendUsd: 0 },
      { user: "x".repeat(257), tier: null, requests: 1, spendUsd: 0 },
      { user: "neg", tier: null, requests: -1, spendUsd: 0 },
      { user: "nan", tier: null, requests: 1, spendUsd: Number.NaN },
      { user: "tier", tier: 7, requests: 1, spendUsd: 0 },
      "not an entry",
    ];
    await tenant.sync([report([good, ...bad], minute)]);
    await tenant.sync([report([{ ...good, earlierRequests: 0 }], minute - 1)]);
    await tenant.sync([report({ not: "a list" })]);
    expect(await tenant.drops()).toMatchObject({ requests: bad.length + 1 });
    expect(await tenant.topUsers(10)).toEqual([
      { user: "ok", tier: null, today: { requests: 7, spendUsd: 0.5 }, thisMinute: { requests: 2 } },
    ]);
  });
});

describe("privacy", () => {
  it("a user's bucket is named by its kind in logs, never by the user id", async () => {
    const { model, tenant, token, a } = await setup({ perUser: { requestsPerMinute: 20 } });
    const user = `user-${crypto.randomUUID()}`;
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => lines.push(args.map(String).join(" ")));
    }
    await setTenantObjectDown(`user:${tenant}:${user}`, true);
    try {
      await expectOpenAIError(await send(a, await token(user), { model }), 503, { code: "usage_unavailable" });
    } finally {
      await setTenantObjectDown(`user:${tenant}:${user}`, false);
    }
    await settle(a);
    const unavailable = lines.filter((l) => l.includes("tenant_usage_unavailable"));
    expect(unavailable.length).toBeGreaterThan(0);
    expect(unavailable.every((l) => l.includes('"bucket":"user"'))).toBe(true);
    expect(lines.join("\n")).not.toContain(user);
  });
});
