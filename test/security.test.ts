import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { eventually } from "./support/expect";
import { chat, chatBody, gateway, IOS_KEY, UPSTREAM_KEY, Upstream, uniqueModel, WEB_KEY } from "./support/harness";

const SECOND_KEY = "sk-test-second-9999999999999999";
const UPSTREAM_KEYS = [UPSTREAM_KEY, SECOND_KEY];
const CLIENT_KEYS = [WEB_KEY, IOS_KEY];
const TIMEOUTS = { requestMs: 300, streamIdleMs: 300, streamTotalMs: 3000, deadlineMs: 1000 };

/** An upstream error body that echoes both HolySheep keys, as a careless proxy might. */
const leaky = (status: number) => ({
  error: {
    message: `Error ${status} for keys ${UPSTREAM_KEY} and ${SECOND_KEY} (Authorization: Bearer ${UPSTREAM_KEY})`,
    type: status >= 500 ? "server_error" : "invalid_request_error",
    code: `leak_${status}`,
    param: null,
  },
});

let logged: string[] = [];
const captured: Response[] = [];
const texts: string[] = [];

function stringify(args: unknown[]): string {
  return args
    .map((a) => {
      if (typeof a === "string") return a;
      if (a instanceof Error) return `${a.name}: ${a.message}\n${a.stack ?? ""}`;
      try {
        return JSON.stringify(a);
      } catch {
        return String(a);
      }
    })
    .join(" ");
}

beforeEach(() => {
  logged = [];
  captured.length = 0;
  texts.length = 0;
  for (const level of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      logged.push(stringify(args));
    });
  }
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Reads a response whole (streams included), keeping its headers and text for the scan. */
async function keep(res: Response): Promise<Response> {
  captured.push(res);
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    text = `<<body failed: ${String(err)}>>`;
  }
  texts.push(text);
  return res;
}

function scan(secrets: string[]): { where: string; secret: string }[] {
  const found: { where: string; secret: string }[] = [];
  for (const secret of secrets) {
    for (const [i, res] of captured.entries()) {
      for (const [name, value] of res.headers)
        if (value.includes(secret)) found.push({ where: `response ${i} header ${name}`, secret });
      if (texts[i]?.includes(secret)) found.push({ where: `response ${i} body: ${texts[i]?.slice(0, 200)}`, secret });
    }
    for (const line of logged) if (line.includes(secret)) found.push({ where: `log: ${line.slice(0, 300)}`, secret });
  }
  return found;
}

function setup(vars: Record<string, unknown> = {}, config: Record<string, unknown> = {}) {
  const up = new Upstream();
  const model = uniqueModel();
  const gw = gateway(up, {
    HOLYSHEEP_API_KEY: UPSTREAM_KEYS.join(","),
    config: { models: { [model]: {} }, retry: { maxRetries: 0 }, timeouts: TIMEOUTS, ...config },
    ...vars,
  });
  return { up, model, gw };
}

async function faulted(fault: Record<string, unknown>, stream: boolean): Promise<void> {
  const { up, model, gw } = setup();
  await up.fault({ model, ...fault });
  await keep(await chat(gw, chatBody(model, { stream })));
  await gw.settle();
}

describe("no key material in any response or log line", () => {
  it("across success, every fault mode, auth failures, bad input and config errors", async () => {
    // Success, both shapes.
    for (const stream of [false, true]) {
      const { gw, model } = setup();
      const res = await keep(await chat(gw, chatBody(model, { stream })));
      expect(res.status).toBe(200);
      await gw.settle();
    }

    // Every fault mode, streamed and not.
    const faults: Record<string, unknown>[] = [
      { mode: "status", status: 500, body: leaky(500) },
      { mode: "status", status: 503, body: leaky(503), retryAfter: "1" },
      { mode: "status", status: 400, body: leaky(400) },
      { mode: "status", status: 404, body: leaky(404) },
      { mode: "status", status: 413, body: leaky(413) },
      { mode: "status", status: 422, body: leaky(422) },
      { mode: "status", status: 429, body: leaky(429), retryAfter: "1" },
      { mode: "status", status: 401, body: leaky(401) },
      { mode: "status", status: 403, body: leaky(403) },
      { mode: "hang" },
      { mode: "slow_headers", delayMs: 600 },
      { mode: "slow_chunks", delayMs: 600 },
      { mode: "cut_after", after: 3 },
      { mode: "bad_json" },
      { mode: "bad_sse" },
      { mode: "error_event" },
    ];
    for (const fault of faults) for (const stream of [false, true]) await faulted(fault, stream);

    // One key refused (401), the other works: rotation logs must name keys by fingerprint only.
    {
      const { up, model, gw } = setup();
      await up.fault({ model, mode: "status", status: 401, key: UPSTREAM_KEY, body: leaky(401) });
      expect((await keep(await chat(gw, chatBody(model)))).status).toBe(200);
      await gw.settle();
    }

    // Connection refused.
    {
      const { model, gw } = setup({ HOLYSHEEP_BASE_URL: "http://127.0.0.1:1/v1" });
      expect((await keep(await chat(gw, chatBody(model)))).status).toBe(502);
      await gw.settle();
    }

    // The client going away mid-stream.
    {
      const { up, model, gw } = setup({}, { timeouts: { ...TIMEOUTS, streamIdleMs: 2000 } });
      await up.fault({ model, mode: "slow_chunks", delayMs: 200 });
      const res = await chat(gw, chatBody(model, { stream: true }));
      captured.push(res);
      texts.push("");
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      texts[texts.length - 1] = new TextDecoder().decode((await reader.read()).value);
      await reader.cancel();
      await eventually(async () => (await up.stats()).requests[0]?.aborted === true);
      await gw.settle();
    }

    // Client authentication failures and bad input.
    {
      const { model, gw } = setup();
      await keep(await chat(gw, chatBody(model), { authorization: "Bearer gk-wrong-0000" }));
      await keep(await gw.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify(chatBody(model)) }));
      await keep(await chat(gw, "{not json"));
      await keep(await chat(gw, { model, messages: [] }));
      await keep(await chat(gw, chatBody(uniqueModel())));
      await keep(await chat(gw, chatBody(model), { "x-gateway-fallback": "bogus" }));
      await keep(await gw.fetch("/v1/models", { headers: { authorization: `Bearer ${WEB_KEY}` } }));
      await keep(await gw.fetch("/v1/models", { headers: { authorization: `Bearer ${IOS_KEY}` } }));
      await keep(await gw.fetch("/nope", { headers: { authorization: `Bearer ${WEB_KEY}` } }));
      await gw.settle();
    }

    // Config errors, including ones built from the real keys.
    for (const vars of [
      { CLIENT_KEYS: `web:${WEB_KEY},ios:${WEB_KEY}` },
      { CLIENT_KEYS: `public:${IOS_KEY}` },
      { CLIENT_KEYS: `we b:${WEB_KEY}` },
      { CLIENT_KEYS: `${WEB_KEY}` },
      { GATEWAY_CONFIG: JSON.stringify({ breaker: { failureThreshold: 0 } }) },
      { GATEWAY_CONFIG: JSON.stringify({ unknownKey: 1 }) },
      { GATEWAY_CONFIG: "{not json" },
    ]) {
      const { model, gw } = setup(vars);
      expect((await keep(await chat(gw, chatBody(model)))).status).toBe(500);
      await keep(await gw.fetch("/healthz"));
      await gw.settle();
    }

    // Dev mode's /healthz warnings.
    {
      const { gw } = setup({ DEV_MODE: "true" });
      expect((await keep(await gw.fetch("/healthz"))).status).toBe(200);
      await gw.settle();
    }

    // The scan is real: errors were logged and responses captured.
    expect(logged.some((l) => l.includes("upstream_attempt_failed"))).toBe(true);
    expect(logged.some((l) => l.includes("config_invalid"))).toBe(true);
    expect(captured.length).toBeGreaterThan(40);
    expect(scan([...UPSTREAM_KEYS, ...CLIENT_KEYS])).toEqual([]);
  });

  it("a relayed 4xx message that echoes the key is redacted, the rest of the message kept", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "status", status: 400, body: leaky(400) });
    const res = await keep(await chat(gw, chatBody(model)));
    expect(res.status).toBe(400);
    const body = JSON.parse(texts[0] ?? "") as { error: { message: string; code: string } };
    expect(body.error.code).toBe("leak_400");
    expect(body.error.message).toMatch(/^Error 400 for keys /);
    expect(scan(UPSTREAM_KEYS)).toEqual([]);
    await gw.settle();
  });

  it("the client's key is never forwarded upstream; the upstream sees only a HolySheep key", async () => {
    const { up, model, gw } = setup();
    for (const key of CLIENT_KEYS) {
      const res = await chat(gw, chatBody(model, { stream: key === IOS_KEY }), { authorization: `Bearer ${key}` });
      expect(res.status).toBe(200);
      await res.text();
    }
    await gw.settle();
    const fingerprint = async (k: string) =>
      [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(k))).slice(0, 4)]
        .map((b) => b.toString(16).padStart(2, "0"))
        .join("");
    const upstreamPrints = await Promise.all(UPSTREAM_KEYS.map(fingerprint));
    const clientPrints = await Promise.all(CLIENT_KEYS.map(fingerprint));
    const { requests } = await up.stats();
    expect(requests).toHaveLength(2);
    for (const r of requests) {
      expect(upstreamPrints).toContain(r.keyFingerprint);
      expect(clientPrints).not.toContain(r.keyFingerprint);
      const body = JSON.stringify(r.body);
      for (const k of CLIENT_KEYS) expect(body).not.toContain(k);
    }
  });

  it("error responses carry no upstream headers that could hold secrets", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "status", status: 500, body: leaky(500) });
    const res = await keep(await chat(gw, chatBody(model)));
    expect(res.status).toBe(502);
    expect(res.headers.get("authorization")).toBeNull();
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(texts[0]).not.toContain("leak_500");
    expect(scan(UPSTREAM_KEYS)).toEqual([]);
    await gw.settle();
  });
});
