import { describe, expect, it } from "vitest";
import { chat, chatBody, eventually, gateway, IOS_KEY, UPSTREAM_KEY, Upstream, uniqueModel, WEB_KEY } from "./support/harness";

const TOKEN = "admin-token-for-tests-0123456789";

function setup(extra: Record<string, unknown> = {}) {
  const up = new Upstream();
  const model = uniqueModel();
  const cheap = uniqueModel("deepseek-v3.2");
  const config = {
    models: {
      [model]: { fallbacks: [cheap], priceUsdPerMTok: 8, breaker: { failureThreshold: 2 } },
      [cheap]: { priceUsdPerMTok: 0.42 },
    },
    retry: { maxRetries: 0 },
    ...extra,
  };
  const gw = gateway(up, { config, ADMIN_TOKEN: TOKEN });
  const admin = (path: string, init: RequestInit = {}, token: string | null = TOKEN) =>
    gw.fetch(path, {
      ...init,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string>) },
    });
  return { up, model, cheap, gw, admin, config };
}

type ErrorBody = { error: { message: string; type: string; code: string; param: string | null } };

describe("admin authentication", () => {
  it("answers 403 with a message when no ADMIN_TOKEN is set", async () => {
    const up = new Upstream();
    const gw = gateway(up, { ADMIN_TOKEN: "" });
    for (const path of ["/admin", "/admin/circuits", "/admin/metrics"]) {
      const res = await gw.fetch(path, { headers: { authorization: "Bearer anything" } });
      expect(res.status).toBe(403);
      expect(((await res.json()) as ErrorBody).error.message).toContain("ADMIN_TOKEN");
    }
  });

  it("401 for a missing or wrong token, and a token in the query string is ignored", async () => {
    const { admin } = setup();
    for (const res of [
      await admin("/admin/circuits", {}, null),
      await admin("/admin/circuits", {}, "wrong-token"),
      await admin(`/admin/circuits?token=${TOKEN}`, {}, null),
      await admin(`/admin/circuits?access_token=${TOKEN}`, {}, null),
    ]) {
      expect(res.status).toBe(401);
      const body = (await res.json()) as ErrorBody;
      expect(body.error.type).toBe("authentication_error");
      expect(JSON.stringify(body)).not.toContain(TOKEN);
    }
  });

  it("answers no cross-origin request, even with the right token and an allowed origin", async () => {
    const { admin } = setup();
    const res = await admin("/admin/circuits", { headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await admin(
      "/admin/circuits/x/reset",
      { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } },
      null,
    );
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("serves the dashboard page as one self-contained document", async () => {
    const { admin } = setup();
    const res = await admin("/admin", {}, null);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain("sessionStorage");
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    expect(html).not.toContain(TOKEN);
  });
});

describe("circuits", () => {
  it("lists every configured model with DESIGN's Circuit shape", async () => {
    const { admin, model, cheap } = setup();
    const res = await admin("/admin/circuits");
    expect(res.status).toBe(200);
    const { circuits } = (await res.json()) as { circuits: Record<string, unknown>[] };
    expect(circuits.map((c) => c.model).sort()).toEqual([model, cheap].sort());
    for (const c of circuits) {
      for (const field of [
        "state",
        "consecutiveFailures",
        "halfOpenSuccesses",
        "halfOpenInFlight",
        "openedAt",
        "nextAttemptAt",
        "coolingUntil",
        "forcedReason",
        "config",
        "lifetime",
      ]) {
        expect(c).toHaveProperty(field);
      }
      expect(c.state).toBe("closed");
    }
  });

  it("force open with reason and duration, then reset: both are transitions with their reasons, most recent first", async () => {
    const { admin, gw, model, up } = setup();
    const opened = await admin(`/admin/circuits/${model}/open`, {
      method: "POST",
      body: JSON.stringify({ reason: "provider maintenance", durationMs: 60_000 }),
    });
    expect(opened.status).toBe(200);
    const o = (await opened.json()) as { state: string; forcedReason: string; nextAttemptAt: number };
    expect(o.state).toBe("forced_open");
    expect(o.forcedReason).toBe("provider maintenance");
    expect(o.nextAttemptAt).toBeGreaterThan(Date.now() + 50_000);
    // The request path skips the forced model (the cheaper one answers).
    const served = await chat(gw, chatBody(model));
    expect(served.headers.get("x-gateway-circuit")).toBe("forced_open");
    expect(served.headers.get("x-gateway-model")).not.toBe(model);
    await served.body?.cancel();
    expect(await up.calls(model)).toBe(0);

    const reset = await admin(`/admin/circuits/${model}/reset`, { method: "POST" });
    expect(reset.status).toBe(200);
    const detail = (await (await admin(`/admin/circuits/${model}`)).json()) as {
      state: string;
      transitions: { from: string; to: string; reason: string }[];
    };
    expect(detail.state).toBe("closed");
    expect(detail.transitions.slice(0, 2)).toMatchObject([
      { from: "forced_open", to: "closed", reason: "reset: admin" },
      { from: "closed", to: "forced_open", reason: "forced: provider maintenance" },
    ]);
    await gw.settle();
  });

  it("force open without a body lasts until reset", async () => {
    const { admin, model } = setup();
    const res = await admin(`/admin/circuits/${model}/open`, { method: "POST" });
    const body = (await res.json()) as { state: string; nextAttemptAt: number | null };
    expect(body.state).toBe("forced_open");
    expect(body.nextAttemptAt).toBeNull();
  });

  it("rejects bad input with OpenAI-shaped errors and changes no circuit", async () => {
    const { admin, model } = setup();
    const cases: [string, RequestInit, number][] = [
      [`/admin/circuits/${model}/open`, { method: "POST", body: JSON.stringify({ durationMs: -5 }) }, 400],
      [`/admin/circuits/${model}/open`, { method: "POST", body: JSON.stringify({ durationMs: "soon" }) }, 400],
      [`/admin/circuits/${model}/open`, { method: "POST", body: JSON.stringify({ reason: "x".repeat(201) }) }, 400],
      [`/admin/circuits/${model}/open`, { method: "POST", body: "{not json" }, 400],
      [`/admin/circuits/${model}/open`, { method: "POST", body: JSON.stringify({ reason: "a", extra: 1 }) }, 400],
      [`/admin/circuits/${model}/reset`, { method: "GET" }, 405],
      [`/admin/circuits/${model}/open`, { method: "PUT" }, 405],
      ["/admin/circuits/no-such-model", {}, 404],
      ["/admin/circuits/..%2F..%2Fadmin/reset", { method: "POST" }, 404],
      [`/admin/circuits/${"m".repeat(5000)}/reset`, { method: "POST" }, 404],
      ["/admin/circuits/%E2%9C%93-%F0%9F%94%A5/open", { method: "POST" }, 404],
    ];
    for (const [path, init, status] of cases) {
      const res = await admin(path, init);
      expect(res.status, path).toBe(status);
      const body = (await res.json()) as ErrorBody;
      expect(body.error.message.length).toBeGreaterThan(0);
      expect(body.error).toHaveProperty("type");
    }
    const detail = (await (await admin(`/admin/circuits/${model}`)).json()) as { state: string; transitions: unknown[] };
    expect(detail.state).toBe("closed");
    expect(detail.transitions).toHaveLength(0);
  });

  it("never shows the HolySheep key, a client key or the admin token", async () => {
    const { admin, model, gw } = setup();
    await (await chat(gw, chatBody(model))).text();
    await gw.settle();
    for (const path of ["/admin", "/admin/circuits", `/admin/circuits/${model}`, "/admin/metrics"]) {
      const res = await admin(path);
      const text = (await res.text()) + JSON.stringify([...res.headers]);
      for (const secret of [UPSTREAM_KEY, WEB_KEY, IOS_KEY, TOKEN]) expect(text).not.toContain(secret);
    }
  });
});

describe("metrics", () => {
  it("aggregates requests, outcomes, tokens, spend and the fallback's spend difference across isolates", async () => {
    const { up, model, cheap, config, admin } = setup();
    const a = gateway(up, { config, ADMIN_TOKEN: TOKEN });
    const b = gateway(up, { config, ADMIN_TOKEN: TOKEN });
    await (await chat(a, chatBody(model))).text();
    await (await chat(b, chatBody(model), { authorization: `Bearer ${IOS_KEY}` })).text();
    await up.fault({ model, mode: "status", status: 503 });
    await (await chat(a, chatBody(model, { messages: [{ role: "user", content: "other" }] }))).text();
    await Promise.all([a.settle(), b.settle()]);
    let text = "";
    await eventually(async () => {
      text = await (await admin("/admin/metrics")).text();
      return text.includes(`gateway_fallbacks_total{model="${model}",step="model"} 1`);
    });
    expect(text).toContain(`gateway_requests_total{model="${model}",tenant="web",source="upstream",status_class="2xx"} 2`);
    expect(text).toContain(`gateway_requests_total{model="${model}",tenant="ios",source="upstream",status_class="2xx"} 1`);
    expect(text).toMatch(new RegExp(`gateway_tokens_total\\{model="${model}",tenant="web",kind="completion"\\} \\d+`));
    expect(text).toMatch(new RegExp(`gateway_spend_usd_total\\{model="${cheap}",tenant="web"\\} 0\\.\\d+`));
    expect(text).toMatch(
      new RegExp(`gateway_fallback_spend_saved_usd_total\\{requested="${model}",served="${cheap}"\\} 0\\.\\d+`),
    );
    expect(text).toContain(`gateway_upstream_attempts_total{model="${model}",outcome="server_error"} 1`);
    expect(text).toContain(`gateway_circuit_state{model="${model}",state="closed"} 1`);
    expect(text).toContain(`gateway_upstream_latency_seconds_bucket{model="${model}",le="+Inf"} 3`);
    expect(text).toContain("# TYPE gateway_upstream_latency_seconds histogram");
  });

  it("counts transitions, and lifetime counters never go down across a reset", async () => {
    const { up, model, admin, gw } = setup({ fallbackOrder: [] });
    await up.fault({ model, mode: "status", status: 503 });
    for (let i = 0; i < 2; i++) await (await chat(gw, chatBody(model))).text();
    await gw.settle();
    await admin(`/admin/circuits/${model}/reset`, { method: "POST" });
    const text = await (await admin("/admin/metrics")).text();
    expect(text).toContain(`gateway_circuit_transitions_total{model="${model}",from="closed",to="open"} 1`);
    expect(text).toContain(`gateway_circuit_transitions_total{model="${model}",from="open",to="closed"} 1`);
    expect(text).toContain(`gateway_circuit_outcomes_total{model="${model}",outcome="failure"} 2`);
    expect(text).toContain(`gateway_circuit_opens_total{model="${model}"} 1`);
  });
});
