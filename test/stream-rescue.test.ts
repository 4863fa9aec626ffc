import { describe, expect, it } from "vitest";
import { chainSetup, hello, parseStream, sdk, soloSetup } from "./support/chain";
import { chat, chatBody, circuits, gateway } from "./support/harness";

type Json = Record<string, unknown>;
const TIMEOUTS = { requestMs: 1000, streamIdleMs: 300, streamTotalMs: 5000, deadlineMs: 2000 };

/** What the upstream was asked to continue: the assistant prefill of each continuation request. */
async function prefills(up: { stats(): Promise<{ requests: { body: Json }[] }> }): Promise<string[]> {
  const { requests } = await up.stats();
  return requests.flatMap((r) => {
    const last = (r.body.messages as Json[]).at(-1);
    return last?.role === "assistant" ? [last.content as string] : [];
  });
}

function expectSpliced(text: string, full: string, by: string, after: string) {
  const s = parseStream(text);
  expect(s.errors).toEqual([]);
  expect(s.content).toBe(full);
  expect(s.doneCount).toBe(1);
  expect(s.done).toBe(true);
  const chunks = s.chunks as unknown as { id: string; model: string; created: number }[];
  for (const field of ["id", "model", "created"] as const) expect(new Set(chunks.map((c) => c[field])).size).toBe(1);
  expect(s.chunks.filter((c) => c.choices[0]?.delta.role !== undefined)).toHaveLength(1);
  const last = s.chunks.at(-1) as unknown as { x_gateway?: Json };
  expect(last.x_gateway).toEqual({ continued: true, by, provider: "holysheep", after });
  return s;
}

const breaks = [
  { after: "cut", fault: { mode: "cut_after", after: 4 } },
  { after: "idle", fault: { mode: "stall_after", after: 4 } },
  { after: "error_event", fault: { mode: "error_after", after: 4 } },
  { after: "timeout", fault: { mode: "slow_chunks", delayMs: 150 }, timeouts: { streamIdleMs: 1000, streamTotalMs: 400 } },
] as const;

describe("a stream that breaks after commit is continued (DESIGN §15)", () => {
  for (const b of breaks) {
    it(`after ${b.after}: the client gets the whole text once, one [DONE], one id, and the marker`, async () => {
      const timeouts = { ...TIMEOUTS, ...("timeouts" in b ? b.timeouts : {}) };
      const { up, model, gw } = soloSetup({ extra: { timeouts } });
      await up.fault({ model, times: 1, ...b.fault });
      const res = await chat(gw, chatBody(model, { stream: true }));
      expect(res.status).toBe(200);
      const s = expectSpliced(await res.text(), hello(model), model, b.after);
      const [prefill] = await prefills(up);
      expect(prefill).toBeDefined();
      expect(hello(model).startsWith(prefill ?? "\u0000")).toBe(true);
      expect(s.content.indexOf(prefill ?? "")).toBe(0);
      await gw.settle();
      const c = await circuits(gw);
      expect((await c.detail(model)).lifetime.failures).toBe(1); // the first part failed its model
      const series = await c.series(model);
      expect(series[`gateway_stream_continuations_total{model="${model}",by="${model}",outcome="spliced"}`]).toBe(1);
    });
  }

  it("continues on the fallback model when the same model cannot continue", async () => {
    const { up, model, fb, gw } = chainSetup({ extra: { timeouts: TIMEOUTS } });
    // The latest fault applies first: one cut, then the model fails before its first token.
    await up.fault({ model, mode: "status", status: 503 }, { model, mode: "cut_after", after: 4, times: 1 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expectSpliced(await res.text(), hello(model), fb, "cut");
    expect((await up.stats()).requests.map((r) => r.model)).toEqual([model, model, fb]);
    await up.clearFaults();
    await gw.settle();
  });

  it('skips a model with "prefill": false; with none left, the original error event ends the stream', async () => {
    const { up, model, fb, gw } = chainSetup({ fallback: { prefill: false }, extra: { timeouts: TIMEOUTS } });
    // The latest fault applies first: one cut, then the model fails before its first token.
    await up.fault({ model, mode: "status", status: 503 }, { model, mode: "cut_after", after: 4, times: 1 });
    const s = parseStream(await (await chat(gw, chatBody(model, { stream: true }))).text());
    expect(s.errors.map((e) => e.code)).toEqual(["upstream_error"]);
    expect(s.done).toBe(false);
    expect((await up.stats()).requests.map((r) => r.model)).toEqual([model, model]);
    expect(fb).not.toBe(model);
    await up.clearFaults();
    await gw.settle();
  });

  it("a fallback that rejects the prefill with 400 does not mask the original error", async () => {
    const { up, model, fb, gw } = chainSetup({ extra: { timeouts: TIMEOUTS } });
    await up.fault(
      { model, mode: "status", status: 503 },
      { model, mode: "error_after", after: 4, times: 1 },
      { model: fb, mode: "reject_prefill" },
    );
    const s = parseStream(await (await chat(gw, chatBody(model, { stream: true }))).text());
    expect(s.errors.map((e) => e.code)).toEqual(["overloaded"]);
    expect((await up.stats()).requests.map((r) => r.model)).toEqual([model, model, fb]);
    await up.clearFaults();
    await gw.settle();
  });

  it("streamWallMs still caps a stream's whole life once it is being continued", async () => {
    const { up, model, gw } = soloSetup({ extra: { timeouts: { ...TIMEOUTS, streamIdleMs: 1000, streamWallMs: 600 } } });
    // The latest fault applies first: one fast cut, then a continuation that trickles.
    await up.fault({ model, mode: "slow_chunks", delayMs: 250 }, { model, mode: "cut_after", after: 3, times: 1 });
    const started = Date.now();
    const s = parseStream(await (await chat(gw, chatBody(model, { stream: true }))).text());
    expect(Date.now() - started).toBeLessThan(1500);
    expect(s.done).toBe(false);
    expect(s.errors.map((e) => e.code)).toEqual(["upstream_error"]);
    await up.clearFaults();
    await gw.settle();
  });

  it("usage, when asked for, adds both parts", async () => {
    const { up, model, gw } = soloSetup({ extra: { timeouts: TIMEOUTS } });
    await up.fault({ model, mode: "cut_after", after: 4, times: 1 });
    const res = await chat(gw, chatBody(model, { stream: true, stream_options: { include_usage: true } }));
    const s = expectSpliced(await res.text(), hello(model), model, "cut");
    const usage = s.chunks.at(-1)?.usage as { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    const [prefill = ""] = await prefills(up);
    const rest = hello(model).slice(prefill.length);
    const words = rest.split(/\s+/).filter((w) => w !== "").length;
    expect(usage.completion_tokens).toBe(words + Math.ceil(prefill.length / 4));
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
    await gw.settle();
  });

  it("a continued answer is not served from the cache later", async () => {
    const { up, model, gw } = soloSetup({ extra: { timeouts: TIMEOUTS } });
    await up.fault({ model, mode: "cut_after", after: 4, times: 1 });
    await (await chat(gw, chatBody(model, { stream: true }))).text();
    await gw.settle();
    await up.fault({ model, mode: "status", status: 503 });
    const later = await chat(gw, chatBody(model, { stream: true }));
    expect(later.headers.get("x-gateway-source")).not.toBe("cache");
    await later.body?.cancel();
    await up.clearFaults();
    await gw.settle();
  });

  it("the official SDK's for-await over a rescued stream yields the whole text, no exception", async () => {
    const { up, model, gw } = soloSetup({ extra: { timeouts: TIMEOUTS } });
    await up.fault({ model, mode: "cut_after", after: 4, times: 1 });
    const stream = await sdk(gw).chat.completions.create({
      model,
      stream: true,
      messages: [{ role: "user", content: "hi there" }],
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    expect(text).toBe(hello(model));
    await gw.settle();
  });
});

describe("streams that are not continued keep today's behaviour", () => {
  const cases: { name: string; body: Json; headers: Record<string, string> }[] = [
    { name: "x-gateway-stream-recovery: off", body: {}, headers: { "x-gateway-stream-recovery": "off" } },
    { name: "a stream that emitted tool_calls", body: { tools: [{ type: "function", function: { name: "f" } }] }, headers: {} },
    { name: "n = 2", body: { n: 2 }, headers: {} },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { up, model, gw } = soloSetup({
        extra: { timeouts: TIMEOUTS, tenants: { default: { requestsPerMinute: null, maxChoices: null } } },
      });
      await up.fault({ model, mode: "cut_after", after: 4, times: 1 });
      const s = parseStream(await (await chat(gw, chatBody(model, { stream: true, ...c.body }), c.headers)).text());
      expect(s.errors.map((e) => e.code)).toEqual(["upstream_error"]);
      expect(s.done).toBe(false);
      expect(await prefills(up)).toEqual([]);
      await gw.settle();
    });
  }
});

describe("the dev-mode demo: cut mid-stream", () => {
  it("every stream of a model whose streams are cut mid-way arrives whole; the admin API counts the rescues", async () => {
    const { up, model, config } = soloSetup({ extra: { timeouts: TIMEOUTS } });
    const token = "admin-token-for-tests-0123456789";
    const gw = gateway(up, { config, ADMIN_TOKEN: token });
    await up.fault({ model, mode: "cut_midstream", after: 3 });
    for (let i = 0; i < 3; i++) {
      const s = parseStream(await (await chat(gw, chatBody(model, { stream: true }))).text());
      expect(s.content).toBe(hello(model));
      expect(s.done).toBe(true);
    }
    await gw.settle();
    const res = await gw.fetch("/admin/circuits", { headers: { authorization: `Bearer ${token}` } });
    const { circuits: all } = (await res.json()) as { circuits: { model: string; traffic: { continued: number } | null }[] };
    expect(all.find((c) => c.model === model)?.traffic?.continued).toBe(3);
    await up.clearFaults();
  });
});
