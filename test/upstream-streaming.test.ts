import { describe, expect, it } from "vitest";
import { chainSetup, soloSetup } from "./support/chain";
import { chat, chatBody, circuits, gateway, IOS_KEY, sleep, sseData, Upstream, uniqueModel } from "./support/harness";

type Json = Record<string, unknown>;

/** An answer with what varies per call (ids, timestamps) blanked, so two answers can be compared. */
function stable(answer: Json, model: string): Json {
  const text = JSON.stringify(answer)
    .replaceAll(model, "m")
    .replace(/"(chatcmpl|call)_?-?[A-Za-z0-9]+(_\d+)?"/g, (_m, kind, suffix) => `"${kind}${suffix ?? ""}"`);
  return { ...(JSON.parse(text) as Json), created: 0 };
}

/** The same request answered two ways: assembled from the upstream's stream, and the upstream's own JSON. */
async function bothWays(body: (model: string) => Json) {
  const up = new Upstream();
  const streamed = uniqueModel();
  const asJson = uniqueModel();
  const gw = gateway(up, {
    config: {
      models: { [streamed]: {}, [asJson]: { upstreamStreaming: "as_requested" } },
      tenants: { default: { requestsPerMinute: null, maxChoices: null }, ip: { requestsPerMinute: null } },
    },
  });
  const a = await chat(gw, body(streamed));
  const b = await chat(gw, body(asJson));
  expect(a.status, await a.clone().text()).toBe(200);
  expect(b.status).toBe(200);
  const [assembled, direct] = [(await a.json()) as Json, (await b.json()) as Json];
  const requests = (await up.stats()).requests;
  expect(requests.map((r) => (r.body as Json).stream)).toEqual([true, undefined]);
  await gw.settle();
  return { assembled: stable(assembled, streamed), direct: stable(direct, asJson), raw: assembled };
}

const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object", properties: {} } } }];

describe("upstream streaming for every request (DESIGN §12)", () => {
  it("a JSON client's answer assembled from the stream equals the upstream's JSON: text", async () => {
    const { assembled, direct, raw } = await bothWays((m) => chatBody(m));
    expect(raw.object).toBe("chat.completion");
    expect(assembled).toEqual(direct);
  });

  it("… tool calls", async () => {
    const { assembled, direct } = await bothWays((m) => chatBody(m, { tools }));
    expect((assembled.choices as Json[])[0]?.finish_reason).toBe("tool_calls");
    expect(assembled).toEqual(direct);
  });

  it("… n = 2", async () => {
    const { assembled, direct } = await bothWays((m) => chatBody(m, { n: 2 }));
    expect(assembled.choices as Json[]).toHaveLength(2);
    expect(assembled).toEqual(direct);
  });

  it("requestMs is time to first token: an answer generated for 3 × requestMs after a fast first token is a 200, no failure", async () => {
    const { up, model, gw } = soloSetup({
      model: { timeouts: { requestMs: 150, streamIdleMs: 1000, streamTotalMs: 5000, deadlineMs: 1000 } },
    });
    await up.fault({ model: "*", mode: "slow_chunks", delayMs: 60, times: 1 });
    const started = Date.now();
    const res = await chat(gw, chatBody(model));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(Date.now() - started).toBeGreaterThan(450);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe(
      `Hello from ${model}. You said: hi there`,
    );
    await gw.settle();
    const detail = await (await circuits(gw)).detail(model);
    expect(detail.lifetime.failures).toBe(0);
    expect(await up.calls()).toBe(1);
  });

  for (const fault of [
    { mode: "cut_after", after: 3 },
    { mode: "stall_after", after: 3 },
    { mode: "error_after", after: 3 },
    { mode: "odd_event", after: 3, body: '{"error":{"code":"overloaded"}}' },
  ]) {
    it(`a JSON client's answer broken mid-generation (${fault.mode}) is served whole by the next step`, async () => {
      const { up, model, fb, gw } = chainSetup({ model: { timeouts: { streamIdleMs: 300 } } });
      await up.fault({ model, times: 1, ...fault });
      const res = await chat(gw, chatBody(model));
      expect(res.status, await res.clone().text()).toBe(200);
      expect(res.headers.get("x-gateway-model")).toBe(fb);
      const answer = (await res.json()) as { choices: { message: { content: string } }[] };
      expect(answer.choices[0]?.message.content).toBe(`Hello from ${fb}. You said: hi there`);
      await gw.settle();
    });
  }

  it("a JSON client's answer cut mid-generation falls through to the fallback transparently", async () => {
    const { up, model, fb, gw } = chainSetup();
    await up.fault({ model, mode: "cut_after", after: 3, times: 1 });
    const res = await chat(gw, chatBody(model));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    const answer = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(answer.choices[0]?.message.content).toBe(`Hello from ${fb}. You said: hi there`);
    await gw.settle();
  });
});

describe("time a client holds a stream is the client's (DESIGN §12)", () => {
  it("three slow readers past streamTotalMs open no circuit: another tenant is still served", async () => {
    const { up, model, gw } = soloSetup({
      model: { breaker: { failureThreshold: 3 }, timeouts: { requestMs: 1000, streamIdleMs: 1000, streamTotalMs: 300 } },
    });
    const readers = [0, 1, 2].map(async () => {
      const res = await chat(gw, chatBody(model, { stream: true }));
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      await sleep(500); // the upstream has long sent everything; the gateway waits on this client
      let text = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      return text;
    });
    for (const text of await Promise.all(readers)) expect(text.trim().endsWith("data: [DONE]")).toBe(true);
    await gw.settle();
    const detail = await (await circuits(gw)).detail(model);
    expect(detail.state).toBe("closed");
    expect(detail.lifetime.failures).toBe(0);
    const other = await chat(gw, chatBody(model), { authorization: `Bearer ${IOS_KEY}` });
    expect(other.status).toBe(200);
    await up.clearFaults();
    await gw.settle();
  });

  it("streamWallMs ends a stream its client stopped reading with client_too_slow, no failure", async () => {
    const { model, gw } = soloSetup({ model: { timeouts: { streamWallMs: 300 } } });
    const res = await chat(gw, chatBody(model, { stream: true }));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await sleep(600);
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const last = JSON.parse(sseData(text).at(-1) ?? "{}") as { error?: { code?: string } };
    expect(last.error?.code).toBe("client_too_slow");
    expect(text).not.toContain("[DONE]");
    await gw.settle();
    const detail = await (await circuits(gw)).detail(model);
    expect(detail.lifetime.failures).toBe(0);
  });
});

describe("malformed and odd events (DESIGN §12)", () => {
  async function streamWith(fault: Json, extra: Json = {}) {
    const { up, model, gw } = soloSetup({ model: { breaker: { failureThreshold: 1 } }, ...extra });
    await up.fault({ model: "*", times: 1, ...fault });
    const res = await chat(gw, chatBody(model, { stream: true }));
    const text = await res.text();
    await gw.settle();
    const c = await circuits(gw);
    return { up, model, gw, res, text, detail: await c.detail(model), series: await c.series(model) };
  }

  it("`data: null` mid-stream is relayed as it came: no cut, no failure", async () => {
    const { text, detail } = await streamWith({ mode: "odd_event", after: 2, body: "null" });
    expect(sseData(text)).toContain("null");
    expect(text.trim().endsWith("data: [DONE]")).toBe(true);
    expect(detail.lifetime.failures).toBe(0);
    expect(detail.state).toBe("closed");
  });

  it("a chunk whose choices hold null is relayed as it came: no cut, no failure, the stream ends", async () => {
    const { text, detail } = await streamWith({ mode: "odd_event", after: 2, body: '{"id":"x","choices":[null]}' });
    expect(sseData(text)).toContain('{"id":"x","choices":[null]}');
    expect(text.trim().endsWith("data: [DONE]")).toBe(true);
    expect(detail.lifetime.failures).toBe(0);
  });

  it("a chunk without delta, with caching on, does not end the stream", async () => {
    const chunk = { id: "chatcmpl-odd", object: "chat.completion.chunk", created: 1, model: "x", choices: [{ index: 0 }] };
    const { text, detail } = await streamWith({ mode: "odd_event", after: 2, body: JSON.stringify(chunk) });
    expect(text.trim().endsWith("data: [DONE]")).toBe(true);
    expect(detail.lifetime.failures).toBe(0);
  });

  it("an event that is not JSON is dropped and counted; the answer goes on, complete, and is not cached", async () => {
    const { up, model, gw, text, detail, series } = await streamWith({ mode: "odd_event", after: 2, body: "{not json" });
    expect(text).not.toContain("{not json");
    const content = sseData(text)
      .filter((d) => d !== "[DONE]")
      .map((d) => (JSON.parse(d) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? "")
      .join("");
    expect(content).toBe(`Hello from ${model}. You said: hi there`);
    expect(detail.lifetime.failures).toBe(0);
    expect(series[`gateway_upstream_dropped_events_total{model="${model}"}`]).toBe(1);
    // The model now fails; an answer that passed odd events was never cached, so none is served.
    await up.fault({ model: "*", mode: "status", status: 503 });
    const later = await chat(gw, chatBody(model, { stream: true }));
    expect(later.headers.get("x-gateway-source")).not.toBe("cache");
    await later.body?.cancel();
    await up.clearFaults();
    await gw.settle();
  });

  it("a stream complete without [DONE] is finalised as a success, [DONE] sent by the gateway, and cached", async () => {
    const { up, model, gw, text, detail } = await streamWith({ mode: "no_done" });
    expect(text.trim().endsWith("data: [DONE]")).toBe(true);
    expect(sseData(text).some((d) => d.startsWith('{"error"'))).toBe(false);
    expect(detail.lifetime.failures).toBe(0);
    expect(detail.lifetime.successes).toBe(1);
    await up.fault({ model: "*", mode: "status", status: 503 });
    const later = await chat(gw, chatBody(model, { stream: true }));
    expect(later.headers.get("x-gateway-source")).toBe("cache");
    await later.body?.cancel();
    await up.clearFaults();
    await gw.settle();
  });

  it("a JSON client's answer whose stream ends without [DONE] but complete is a 200", async () => {
    const { up, model, gw } = soloSetup();
    await up.fault({ model: "*", mode: "no_done", times: 1 });
    const res = await chat(gw, chatBody(model));
    expect(res.status, await res.clone().text()).toBe(200);
    await gw.settle();
  });
});
