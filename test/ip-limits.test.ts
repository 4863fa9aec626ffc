import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Batch } from "../src/core/sync-channel";
import type { UsageDelta } from "../src/tenants/protocol";
import { expectOpenAIError } from "./support/expect";
import { awayFromMinuteEnd, chatBody, type GatewayUnderTest, gateway, sleep, Upstream, uniqueModel } from "./support/harness";

// Per-minute limits: no test may see its requests split over two UTC minutes.
beforeEach(() => awayFromMinuteEnd());

const TOKEN = "ip-admin-token";

/** A keyed tenant of its own (usage is shared fleet-wide per tenant, and so are its IPs' counts). */
function setup(tenantLimits: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const up = new Upstream();
  const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
  const key = `gk-${crypto.randomUUID()}`;
  const model = uniqueModel();
  const config = {
    models: { [model]: {} },
    tenants: { default: { requestsPerMinute: null }, ip: { requestsPerMinute: null }, [tenant]: tenantLimits },
    ...extra,
  };
  const vars = { config, CLIENT_KEYS: `${tenant}:${key}`, ADMIN_TOKEN: TOKEN };
  return { up, tenant, key, model, vars, gw: gateway(up, vars) };
}

function send(gw: GatewayUnderTest, key: string | null, ip: string | null, body: unknown, headers: Record<string, string> = {}) {
  return gw.fetch("/v1/chat/completions", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(ip ? { "cf-connecting-ip": ip } : {}),
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function expectIpLimited(res: Response): Promise<void> {
  const retryAfter = Number(res.headers.get("retry-after"));
  await expectOpenAIError(res, 429, { type: "rate_limit_error", code: "ip_rate_limited" });
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
}

/** A body that sends one byte and then never ends: reading it would hang the request. */
function endlessBody(): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) return new Promise<void>(() => {});
      sent = true;
      controller.enqueue(new TextEncoder().encode("{"));
    },
  });
}

/** An address of its own: every test's anonymous callers share the tenant `public`. */
const randomIp = () => `2001:db8:${crypto.randomUUID().slice(0, 4)}:${crypto.randomUUID().slice(0, 4)}::1`;

describe("per-IP limits for keyed tenants (tenants.<t>.ipRequestsPerMinute)", () => {
  it("one IP over its limit is refused while another IP of the same tenant is served", async () => {
    const { up, key, model, gw } = setup({ ipRequestsPerMinute: 2 });
    for (let i = 0; i < 2; i++) expect((await send(gw, key, "203.0.113.5", chatBody(model))).status).toBe(200);
    await expectIpLimited(await send(gw, key, "203.0.113.5", chatBody(model)));
    expect((await send(gw, key, "203.0.113.6", chatBody(model))).status).toBe(200);
    expect(await up.calls()).toBe(3);
    await gw.settle();
  });

  it("the limit holds across isolates", async () => {
    const { up, key, model, gw, vars } = setup({ ipRequestsPerMinute: 3 });
    for (let i = 0; i < 2; i++) expect((await send(gw, key, "203.0.113.7", chatBody(model))).status).toBe(200);
    await gw.settle();
    const other = gateway(up, vars);
    expect((await send(other, key, "203.0.113.7", chatBody(model))).status).toBe(200);
    await expectIpLimited(await send(other, key, "203.0.113.7", chatBody(model)));
    expect(await up.calls()).toBe(3);
    await other.settle();
  });

  it("IPv6 addresses count per /64", async () => {
    const { up, key, model, gw } = setup({ ipRequestsPerMinute: 2 });
    expect((await send(gw, key, "2001:db8:abcd:12::1", chatBody(model))).status).toBe(200);
    expect((await send(gw, key, "2001:0DB8:abcd:0012:ffff:0:0:2", chatBody(model))).status).toBe(200);
    await expectIpLimited(await send(gw, key, "2001:db8:abcd:12:1:2:3:4", chatBody(model)));
    expect((await send(gw, key, "2001:db8:abcd:13::1", chatBody(model))).status).toBe(200);
    expect(await up.calls()).toBe(3);
    await gw.settle();
  });

  it("a keyed tenant has no per-IP limit unless it sets one (tenants.ip is for anonymous callers)", async () => {
    const { up, key, model, gw } = setup({}, { tenants: { default: { requestsPerMinute: null }, ip: { requestsPerMinute: 1 } } });
    for (let i = 0; i < 3; i++) expect((await send(gw, key, "203.0.113.8", chatBody(model))).status).toBe(200);
    expect(await up.calls()).toBe(3);
    await gw.settle();
  });
});

describe("refused requests count against their IP", () => {
  it("400s (bad JSON, bad schema, bad headers) and 413s count, and the next request is refused", async () => {
    const { up, key, model, gw } = setup({ ipRequestsPerMinute: 4 }, { limits: { maxBodyBytes: 1000 } });
    const ip = "203.0.113.9";
    expect((await send(gw, key, ip, "{not json")).status).toBe(400);
    expect((await send(gw, key, ip, { model })).status).toBe(400);
    expect((await send(gw, key, ip, chatBody(model), { "x-gateway-fallback": "sometimes" })).status).toBe(400);
    const big = JSON.stringify(chatBody(model, { messages: [{ role: "user", content: "x".repeat(5000) }] }));
    expect((await send(gw, key, ip, big)).status).toBe(413);
    await expectIpLimited(await send(gw, key, ip, chatBody(model)));
    expect(await up.calls()).toBe(0);
    expect((await send(gw, key, "203.0.113.10", chatBody(model))).status).toBe(200);
    await gw.settle();
  });

  it("the 400s of one isolate count in another", async () => {
    const { key, model, gw, vars, up } = setup({ ipRequestsPerMinute: 2 });
    for (let i = 0; i < 2; i++) expect((await send(gw, key, "203.0.113.11", "[]")).status).toBe(400);
    await gw.settle();
    await expectIpLimited(await send(gateway(up, vars), key, "203.0.113.11", chatBody(model)));
  });

  it("once over the limit, a request is refused before its body is read", async () => {
    const { key, model, gw } = setup({ ipRequestsPerMinute: 1 }, { limits: { maxBodyBytes: 1000 } });
    const ip = "203.0.113.12";
    expect((await send(gw, key, ip, chatBody(model))).status).toBe(200);
    // Garbage and oversized bodies are no longer parsed or measured: the answer is the 429.
    await expectIpLimited(await send(gw, key, ip, "{not json"));
    await expectIpLimited(await send(gw, key, ip, "x".repeat(5000)));
    const endless = new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "cf-connecting-ip": ip },
      body: endlessBody(),
      // @ts-expect-error: `duplex` is required by some runtimes for stream bodies, unknown to the types
      duplex: "half",
    });
    const res = await Promise.race([gw.fetch(endless), sleep(3000).then(() => null)]);
    expect(res, "the gateway waited on the body").not.toBeNull();
    if (res) await expectIpLimited(res);
    await gw.settle();
  });
});

describe("anonymous callers (tenant public)", () => {
  it("are limited per IP by tenants.ip.requestsPerMinute, answered ip_rate_limited", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, {
      ALLOW_ANONYMOUS: "true",
      config: { models: { [model]: {} }, tenants: { default: { requestsPerMinute: null }, ip: { requestsPerMinute: 2 } } },
    });
    const ip = randomIp();
    for (let i = 0; i < 2; i++) expect((await send(gw, null, ip, chatBody(model))).status).toBe(200);
    await expectIpLimited(await send(gw, null, ip, chatBody(model)));
    expect((await send(gw, null, randomIp(), chatBody(model))).status).toBe(200);
    expect(await up.calls()).toBe(3);
    await gw.settle();
  });
});

describe("usage objects kept for an IP", () => {
  it("delete their storage when their day ends", async () => {
    const { key, model, gw, tenant } = setup({ ipRequestsPerMinute: 5 });
    expect((await send(gw, key, "203.0.113.13", chatBody(model))).status).toBe(200);
    await gw.settle();
    const stub = env.TENANTS.getByName(`ip:${tenant}:203.0.113.13`);
    const before = await stub.sync([]);
    expect(before.minuteRequests).toBe(1);
    const alarm = await runInDurableObject(stub, (_obj, state) => state.storage.getAlarm());
    const midnight = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1);
    expect(alarm).toBe(midnight);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const left = await runInDurableObject(stub, (_obj, state) => ({
      kv: [...state.storage.kv.list()].length,
      tables: state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%'")
        .toArray().length,
    }));
    expect(left).toEqual({ kv: 0, tables: 0 });
    // And the object still works afterwards, from nothing.
    expect((await send(gw, key, "203.0.113.13", chatBody(model))).status).toBe(200);
    await gw.settle();
    expect((await stub.sync([])).dayRequests).toBe(1);
  });

  it("a tenant's own usage object keeps its storage (no alarm)", async () => {
    const { key, model, gw, tenant } = setup({ ipRequestsPerMinute: 5 });
    expect((await send(gw, key, "203.0.113.14", chatBody(model))).status).toBe(200);
    await gw.settle();
    const stub = env.TENANTS.getByName(`tenant:${tenant}`);
    expect(await runInDurableObject(stub, (_obj, state) => state.storage.getAlarm())).toBeNull();
  });
});

describe("a tenant's requests by IP are untrusted input (DESIGN §12)", () => {
  it("drops entries that are no IP or no count, keeps the rest, and never fails the report", async () => {
    const stub = env.TENANTS.getByName(`tenant:t-${crypto.randomUUID().slice(0, 8)}`);
    const batch = (data: unknown) => ({ id: crypto.randomUUID(), data }) as Batch<UsageDelta>;
    const many = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`10.0.${i >> 8}.${i & 255}`, 1]));
    const view = await stub.sync([
      batch({ requests: 1, spendUsd: 0, ips: "198.51.100.1" }),
      batch({ requests: 1, spendUsd: 0, ips: many }),
      batch({
        requests: 1,
        spendUsd: 0,
        ips: { "": 1, [`${"x".repeat(65)}`]: 1, a: -1, b: 1.5, c: "2", d: 0, "198.51.100.2": 2 },
      }),
      batch({ requests: 0, spendUsd: 0, ips: { "198.51.100.2": 1, "198.51.100.3": 1 } }),
    ]);
    expect(view.minuteRequests).toBe(3);
    expect(await stub.drops()).toEqual({ report: 0, duplicate: 0, requests: 8, spend: 0 });
    expect(await stub.topIps()).toEqual([
      { ip: "198.51.100.2", requests: 3 },
      { ip: "198.51.100.3", requests: 1 },
    ]);
  });
});

describe("GET /admin/tenants/:tenant", () => {
  const admin = (gw: GatewayUnderTest, path: string) => gw.fetch(path, { headers: { authorization: `Bearer ${TOKEN}` } });

  it("shows the per-IP limit and the top IPs this minute, highest first, bounded", async () => {
    const { key, model, gw, tenant } = setup({ ipRequestsPerMinute: 50 });
    for (let i = 0; i < 3; i++) expect((await send(gw, key, "2001:db8:1:2::9", "{bad")).status).toBe(400);
    for (let i = 0; i < 2; i++) expect((await send(gw, key, "192.0.2.200", chatBody(model))).status).toBe(200);
    for (let i = 0; i < 12; i++) expect((await send(gw, key, `192.0.2.${i}`, "{bad")).status).toBe(400);
    await gw.settle();
    const res = await admin(gw, `/admin/tenants/${tenant}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      limits: Record<string, unknown>;
      thisMinute: { requests: number };
      ips: { requestsPerMinute: number | null; topThisMinute: { ip: string; requests: number }[] };
    };
    expect(body.limits.ipRequestsPerMinute).toBe(50);
    expect(body.thisMinute.requests).toBe(2);
    expect(body.ips.requestsPerMinute).toBe(50);
    expect(body.ips.topThisMinute.length).toBe(10);
    expect(body.ips.topThisMinute.slice(0, 2)).toEqual([
      { ip: "2001:db8:1:2::/64", requests: 3 },
      { ip: "192.0.2.200", requests: 2 },
    ]);
    for (const entry of body.ips.topThisMinute.slice(2)) expect(entry.requests).toBe(1);
  });

  it("a tenant without a per-IP limit shows none", async () => {
    const { key, model, gw, tenant } = setup({});
    expect((await send(gw, key, "192.0.2.1", chatBody(model))).status).toBe(200);
    await gw.settle();
    const body = (await (await admin(gw, `/admin/tenants/${tenant}`)).json()) as { ips: unknown };
    expect(body.ips).toEqual({ requestsPerMinute: null, topThisMinute: [] });
  });
});
