import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  type Completion,
  chainSetup,
  hello,
  openAndFresh,
  parseStream,
  primed,
  probeCache,
  sdk,
  soloSetup,
} from "./support/chain";
import { expectOpenAIError } from "./support/expect";
import { chat, chatBody, circuits, gateway, IOS_KEY, Upstream, uniqueModel, WEB_KEY } from "./support/harness";

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

describe("the KV fallback cache: served when the circuit is open", () => {
  it("a non-streamed answer is served from KV with source cache, cache age and the model that answered", async () => {
    const { up, model, config, gw } = soloSetup();
    const first = await primed(gw, chatBody(model));
    expect(first.res.status).toBe(200);
    const original = JSON.parse(first.text) as Completion;

    const later = await openAndFresh(up, config, model);
    const res = await chat(later, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-source")).toBe("cache");
    expect(res.headers.get("x-gateway-model")).toBe(model);
    expect(res.headers.get("x-gateway-circuit")).toBe("forced_open");
    expect(res.headers.get("x-gateway-cache-age")).toMatch(/^\d+$/);
    expect(Number(res.headers.get("x-gateway-cache-age"))).toBeLessThanOrEqual(5);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = (await res.json()) as Completion;
    expect(body.object).toBe("chat.completion");
    expect(body.id).toBe(original.id);
    expect(body.choices[0]?.message.content).toBe(hello(model));
    expect(await up.calls(model)).toBe(1);
    await later.settle();
  });

  it("the official SDK reads the cached answer, non-streamed and as a replayed stream, to the same text", async () => {
    const { up, model, config, gw } = soloSetup();
    const messages = [{ role: "user" as const, content: "tell me something" }];
    const original = await sdk(gw).chat.completions.create({ model, messages });
    await gw.settle();
    expect(original.choices[0]?.message.content).toBe(hello(model, "tell me something"));

    const later = await openAndFresh(up, config, model);
    const client = sdk(later);
    const { data, response } = await client.chat.completions.create({ model, messages }).withResponse();
    expect(response.headers.get("x-gateway-source")).toBe("cache");
    expect(response.headers.get("x-gateway-cache-age")).toMatch(/^\d+$/);
    expect(response.headers.get("x-gateway-model")).toBe(model);
    expect(data.choices[0]?.message.content).toBe(original.choices[0]?.message.content);

    const { data: stream, response: streamed } = await client.chat.completions
      .create({ model, messages, stream: true })
      .withResponse();
    expect(streamed.headers.get("x-gateway-source")).toBe("cache");
    expect(streamed.headers.get("x-gateway-model")).toBe(model);
    expect(streamed.headers.get("x-gateway-cache-age")).toMatch(/^\d+$/);
    expect(streamed.headers.get("content-type")).toContain("text/event-stream");
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(original.choices[0]?.message.content);
    expect(finish).toBe("stop");
    expect(await up.calls(model)).toBe(1);
    await later.settle();
  });

  it("a streamed answer, cached, serves a non-streamed request", async () => {
    const { up, model, config, gw } = soloSetup();
    const first = await primed(gw, chatBody(model, { stream: true }));
    const streamed = parseStream(first.text);
    expect(streamed.done).toBe(true);

    const later = await openAndFresh(up, config, model);
    const res = await chat(later, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-source")).toBe("cache");
    const body = (await res.json()) as Completion;
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0]?.message.role).toBe("assistant");
    expect(body.choices[0]?.message.content).toBe(streamed.content);
    expect(body.choices[0]?.finish_reason).toBe("stop");
    expect(body.id).toBe(streamed.chunks[0]?.["id" as never]);
    await later.settle();
  });

  it("a non-streamed answer, cached, is replayed to a streaming request as chunks ending in [DONE]", async () => {
    const { up, model, config, gw } = soloSetup();
    const first = await primed(gw, chatBody(model));
    const original = JSON.parse(first.text) as Completion;

    const later = await openAndFresh(up, config, model);
    const res = await chat(later, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-source")).toBe("cache");
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const s = parseStream(await res.text());
    expect(s.done).toBe(true);
    expect(s.doneCount).toBe(1);
    expect(s.errors).toEqual([]);
    expect(s.chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    // No usage-only chunk unless the client asked for one.
    expect(s.chunks.some((c) => c.choices.length === 0)).toBe(false);
    expect(s.content).toBe(original.choices[0]?.message.content);
    expect(s.finish).toBe("stop");
    await later.settle();
  });

  it("a tool-call answer (cached from a non-streamed request) replays with its tool calls intact, as JSON and as a stream", async () => {
    const { up, model, config, gw } = soloSetup();
    const body = chatBody(model, { messages: [{ role: "user", content: "weather in Paris?" }], tools: [weatherTool] });
    const first = await primed(gw, body);
    const original = JSON.parse(first.text) as Completion;
    const call = original.choices[0]?.message.tool_calls?.[0];
    expect(call?.function.name).toBe("get_weather");
    expect(original.choices[0]?.finish_reason).toBe("tool_calls");

    const later = await openAndFresh(up, config, model);
    const json = await chat(later, body);
    expect(json.headers.get("x-gateway-source")).toBe("cache");
    const replayed = (await json.json()) as Completion;
    expect(replayed.choices[0]?.message.tool_calls).toEqual(original.choices[0]?.message.tool_calls);
    expect(replayed.choices[0]?.message.content).toBeNull();
    expect(replayed.choices[0]?.finish_reason).toBe("tool_calls");

    const streamed = await chat(later, { ...body, stream: true });
    expect(streamed.headers.get("x-gateway-source")).toBe("cache");
    const s = parseStream(await streamed.text());
    expect(s.done).toBe(true);
    expect(s.toolCalls).toEqual(original.choices[0]?.message.tool_calls);
    expect(s.finish).toBe("tool_calls");
    expect(JSON.parse(s.toolCalls[0]?.function.arguments ?? "")).toEqual({ echo: "weather in Paris?" });
    await later.settle();
  });

  it("a tool-call answer assembled from a stream replays intact as JSON, as a stream and through the SDK's stream helper", async () => {
    const { up, model, config, gw } = soloSetup();
    const body = chatBody(model, {
      messages: [{ role: "user", content: "weather in Oslo?" }],
      tools: [weatherTool],
      stream: true,
    });
    const first = await primed(gw, body);
    const original = parseStream(first.text);
    expect(original.done).toBe(true);
    expect(original.toolCalls).toHaveLength(1);
    expect(original.toolCalls[0]?.id).toMatch(/^call_/);

    const later = await openAndFresh(up, config, model);
    const json = await chat(later, { ...body, stream: false });
    expect(json.status).toBe(200);
    expect(json.headers.get("x-gateway-source")).toBe("cache");
    const replayed = (await json.json()) as Completion;
    expect(replayed.choices[0]?.message.tool_calls).toEqual(original.toolCalls);
    expect(replayed.choices[0]?.finish_reason).toBe("tool_calls");

    const streamed = await chat(later, body);
    expect(streamed.headers.get("x-gateway-source")).toBe("cache");
    const s = parseStream(await streamed.text());
    expect(s.toolCalls).toEqual(original.toolCalls);

    const final = await sdk(later)
      .chat.completions.stream({
        model,
        messages: [{ role: "user", content: "weather in Oslo?" }],
        tools: [weatherTool as never],
      })
      .finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0];
    if (call?.type !== "function") throw new Error("expected a function tool call");
    expect(call.id).toBe(original.toolCalls[0]?.id);
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ echo: "weather in Oslo?" });
    expect(await up.calls(model)).toBe(1);
    await later.settle();
  });
});

describe("the KV fallback cache: other ways in", () => {
  it("a failed call on a closed circuit is served from the cache too", async () => {
    const { up, model, gw } = soloSetup();
    const first = await primed(gw, chatBody(model));
    await up.fault({ model, mode: "status", status: 503, times: 1 });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-source")).toBe("cache");
    expect(res.headers.get("x-gateway-circuit")).toBe("closed");
    expect(((await res.json()) as Completion).id).toBe((JSON.parse(first.text) as Completion).id);
    expect(await up.calls(model)).toBe(2);
    await gw.settle();
  });

  it("a replayed stream carries the usage chunk when the client asks for it, and not otherwise", async () => {
    const { up, model, config, gw } = soloSetup();
    const first = await primed(gw, chatBody(model, { stream: true }));
    expect(parseStream(first.text).done).toBe(true);
    const later = await openAndFresh(up, config, model);
    const withUsage = parseStream(
      await (await chat(later, chatBody(model, { stream: true, stream_options: { include_usage: true } }))).text(),
    );
    expect(withUsage.done).toBe(true);
    const usage = withUsage.chunks.find((c) => c.choices.length === 0);
    expect(usage?.usage).toMatchObject({ completion_tokens: expect.any(Number), prompt_tokens: expect.any(Number) });
    const without = parseStream(await (await chat(later, chatBody(model, { stream: true }))).text());
    expect(without.chunks.some((c) => c.choices.length === 0)).toBe(false);
    expect(without.content).toBe(hello(model));
    await later.settle();
  });
});

describe("the cache never crosses tenants or models", () => {
  it("two tenants sending the same request never get each other's cached answer", async () => {
    const { up, model, config, gw } = soloSetup();
    const web = await primed(gw, chatBody(model));
    const webId = (JSON.parse(web.text) as Completion).id;

    // Only web's answer is cached: the iOS tenant must not get it.
    const ios = await probeCache(up, config, model, chatBody(model), { key: IOS_KEY });
    expect(ios.res.status, ios.text).toBe(503);
    expect(ios.res.headers.get("x-gateway-source")).toBeNull();
    const webHit = await probeCache(up, config, model, chatBody(model), { key: WEB_KEY });
    expect(webHit.hit).toBe(true);
    expect((JSON.parse(webHit.text) as Completion).id).toBe(webId);

    // Now iOS has its own: each tenant gets its own answer back.
    const iosGw = gateway(up, { config });
    const iosFirst = await primed(iosGw, chatBody(model), { authorization: `Bearer ${IOS_KEY}` });
    expect(iosFirst.res.status).toBe(200);
    const iosId = (JSON.parse(iosFirst.text) as Completion).id;
    expect(iosId).not.toBe(webId);
    const later = await openAndFresh(up, config, model);
    const a = await chat(later, chatBody(model), { authorization: `Bearer ${IOS_KEY}` });
    const b = await chat(later, chatBody(model), { authorization: `Bearer ${WEB_KEY}` });
    expect(a.headers.get("x-gateway-source")).toBe("cache");
    expect(b.headers.get("x-gateway-source")).toBe("cache");
    expect(((await a.json()) as Completion).id).toBe(iosId);
    expect(((await b.json()) as Completion).id).toBe(webId);
    await later.settle();
  });

  it("a fallback model's answer is cached under the fallback, never served as the requested model's", async () => {
    const { up, model, fb, config } = chainSetup();
    // The requested model is open: the fallback answers and its answer is cached (under the fallback).
    const first = await openAndFresh(up, config, model);
    const served = await primed(first, chatBody(model));
    expect(served.res.status).toBe(200);
    expect(served.res.headers.get("x-gateway-model")).toBe(fb);
    expect(served.res.headers.get("x-gateway-source")).toBe("upstream");
    const fbId = (JSON.parse(served.text) as Completion).id;

    // Both open: the chain's cache step looks up the requested model's answer only.
    const both = await openAndFresh(up, config, model);
    await (await circuits(both)).forceOpen(fb, "test", 60_000);
    const res = await chat(both, chatBody(model));
    const text = await res.text();
    expect(res.status, text).toBe(503);
    expect(res.headers.get("x-gateway-source")).toBeNull();
    expect(text).not.toContain(fbId);
    // The entry does exist, as the fallback's: asked for that model, it is served.
    const own = await chat(both, chatBody(fb));
    expect(own.status).toBe(200);
    expect(own.headers.get("x-gateway-source")).toBe("cache");
    expect(own.headers.get("x-gateway-model")).toBe(fb);
    expect(((await own.json()) as Completion).id).toBe(fbId);
    expect(await up.calls()).toBe(1);
    await both.settle();
  });
});

describe("what is never cached", () => {
  it("a stream cut after commit (partial answer) is not cached", async () => {
    const { up, model, config, gw } = soloSetup();
    await up.fault({ model, mode: "cut_after", after: 3 });
    const cut = await primed(gw, chatBody(model, { stream: true }));
    const s = parseStream(cut.text);
    expect(s.done).toBe(false);
    expect(s.errors).toHaveLength(1);
    const probe = await probeCache(up, config, model, chatBody(model, { stream: true }));
    expect(probe.res.status, probe.text).toBe(503);

    // The same request completed is cached: the probe above could have seen it.
    await up.clearFaults();
    await primed(gateway(up, { config }), chatBody(model, { stream: true }));
    expect((await probeCache(up, config, model, chatBody(model, { stream: true }))).hit).toBe(true);
  });

  it("a stream that fails after commit (over its total time, recovery off) is not cached", async () => {
    const { up, model, config, gw } = soloSetup({
      model: { timeouts: { streamTotalMs: 180 } },
      extra: { streamRecovery: { mode: "off" } },
    });
    await up.fault({ model, mode: "slow_chunks", delayMs: 50, times: 1 });
    const cut = await primed(gw, chatBody(model, { stream: true }));
    expect(cut.res.status).toBe(200);
    const s = parseStream(cut.text);
    expect(s.done).toBe(false);
    expect(s.errors).toHaveLength(1);
    expect(s.content.length).toBeGreaterThan(0);
    expect(hello(model).startsWith(s.content)).toBe(true);
    expect((await probeCache(up, config, model, chatBody(model, { stream: true }))).res.status).toBe(503);

    await primed(gateway(up, { config }), chatBody(model, { stream: true }));
    expect((await probeCache(up, config, model, chatBody(model, { stream: true }))).hit).toBe(true);
  });

  it("errors are not cached: a relayed 400 and a 502 leave nothing behind", async () => {
    const { up, model, config, gw } = soloSetup();
    await up.fault({ model, mode: "status", status: 400, times: 1 });
    const bad = await primed(gw, chatBody(model));
    expect(bad.res.status).toBe(400);
    await up.fault({ model, mode: "status", status: 500, times: 1 });
    const failed = await primed(gw, chatBody(model));
    expect(failed.res.status).toBe(502);
    await up.fault({ model, mode: "error_event", times: 1 });
    const errEvent = await primed(gw, chatBody(model, { stream: true }));
    expect(errEvent.res.status).toBe(502);
    const probe = await probeCache(up, config, model, chatBody(model));
    expect(probe.res.status, probe.text).toBe(503);
  });

  it("an answer over cache.maxEntryBytes is not cached, streamed or not; a small one is", async () => {
    const { up, model, config, gw } = soloSetup({ extra: { cache: { maxEntryBytes: 1000 } } });
    const long = "x".repeat(1500);
    const longBody = chatBody(model, { messages: [{ role: "user", content: long }] });
    const longStream = chatBody(model, { messages: [{ role: "user", content: `${long} streamed` }], stream: true });
    expect((await primed(gw, longBody)).res.status).toBe(200);
    const streamed = await primed(gw, longStream);
    expect(parseStream(streamed.text).content).toBe(hello(model, `${long} streamed`));
    expect((await probeCache(up, config, model, longBody)).res.status).toBe(503);
    expect((await probeCache(up, config, model, longStream)).res.status).toBe(503);

    const small = chatBody(model);
    await primed(gw, small);
    expect((await probeCache(up, config, model, small)).hit).toBe(true);
  });

  it("an answer over a tiny maxEntryBytes (200) is never cached", async () => {
    const { up, model, config, gw } = soloSetup({ extra: { cache: { maxEntryBytes: 200 } } });
    expect((await primed(gw, chatBody(model))).res.status).toBe(200);
    expect((await primed(gw, chatBody(model, { stream: true, messages: [{ role: "user", content: "s" }] }))).res.status).toBe(
      200,
    );
    expect((await probeCache(up, config, model, chatBody(model))).res.status).toBe(503);
    expect(
      (await probeCache(up, config, model, chatBody(model, { stream: true, messages: [{ role: "user", content: "s" }] }))).res
        .status,
    ).toBe(503);
  });

  it("a request with Cache-Control: no-store is answered but not cached", async () => {
    const { up, model, config, gw } = soloSetup();
    const res = await primed(gw, chatBody(model), { "cache-control": "no-store" });
    expect(res.res.status).toBe(200);
    const streamed = await primed(gw, chatBody(model, { stream: true }), { "Cache-Control": "private, no-store" });
    expect(parseStream(streamed.text).done).toBe(true);
    expect((await probeCache(up, config, model, chatBody(model))).res.status).toBe(503);

    await primed(gateway(up, { config }), chatBody(model));
    expect((await probeCache(up, config, model, chatBody(model))).hit).toBe(true);
  });

  it("an opted-out tenant's answers are not cached; another tenant's are", async () => {
    const { up, model, config, gw } = soloSetup({ extra: { cache: { tenants: { web: { enabled: false } } } } });
    expect((await primed(gw, chatBody(model))).res.status).toBe(200);
    expect((await primed(gw, chatBody(model, { stream: true }))).res.status).toBe(200);
    expect((await probeCache(up, config, model, chatBody(model))).res.status).toBe(503);

    await primed(gw, chatBody(model), { authorization: `Bearer ${IOS_KEY}` });
    expect((await probeCache(up, config, model, chatBody(model), { key: IOS_KEY })).hit).toBe(true);
  });

  it("an opted-out model's answers are not cached; another model's are", async () => {
    const up = new Upstream();
    const off = uniqueModel();
    const on = uniqueModel();
    const config = {
      models: { [off]: { cache: { enabled: false } }, [on]: {} },
      retry: { maxRetries: 0 },
    };
    const gw = gateway(up, { config });
    expect((await primed(gw, chatBody(off))).res.status).toBe(200);
    expect((await primed(gw, chatBody(off, { stream: true }))).res.status).toBe(200);
    expect((await probeCache(up, config, off, chatBody(off))).res.status).toBe(503);

    await primed(gw, chatBody(on));
    expect((await probeCache(up, config, on, chatBody(on))).hit).toBe(true);
  });

  it("a failing KV write does not touch the answer (JSON and stream)", async () => {
    const { up, model, config } = soloSetup();
    let puts = 0;
    const failingKv = {
      get: (...args: unknown[]) => (env.CACHE.get as (...a: unknown[]) => unknown)(...args),
      put: async () => {
        puts++;
        throw new Error("KV is down");
      },
      list: (...args: unknown[]) => (env.CACHE.list as (...a: unknown[]) => unknown)(...args),
      delete: async () => undefined,
      getWithMetadata: (...args: unknown[]) => (env.CACHE.getWithMetadata as (...a: unknown[]) => unknown)(...args),
    } as unknown as KVNamespace;
    const gw = gateway(up, { config, CACHE: failingKv });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(((await res.json()) as Completion).choices[0]?.message.content).toBe(hello(model));
    const streamed = await chat(gw, chatBody(model, { stream: true, messages: [{ role: "user", content: "again" }] }));
    expect(streamed.status).toBe(200);
    const s = parseStream(await streamed.text());
    expect(s.done).toBe(true);
    expect(s.errors).toEqual([]);
    expect(s.content).toBe(hello(model, "again"));
    await gw.settle();
    expect(puts).toBe(2);
    // Nothing was stored, and the gateway still answers normally.
    expect((await probeCache(up, config, model, chatBody(model), { env: { CACHE: failingKv } })).res.status).toBe(503);
    const after = await chat(gw, chatBody(model));
    expect(after.status).toBe(200);
    await after.body?.cancel();
    await gw.settle();
  });

  it("a failing KV read falls through to the next step", async () => {
    const { up, model, fb, config } = chainSetup();
    const failingKv = {
      get: async () => {
        throw new Error("KV is down");
      },
      put: async () => undefined,
    } as unknown as KVNamespace;
    const gw = await openAndFresh(up, config, model, 60_000, { CACHE: failingKv });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gateway-model")).toBe(fb);
    await res.body?.cancel();
    await gw.settle();
  });
});

describe("a cache-served error still reads as OpenAI's", () => {
  it("open circuit, nothing cached, no fallback models: 503 circuit_open", async () => {
    const { up, model, config } = soloSetup();
    const gw = await openAndFresh(up, config, model, 30_000);
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 503, { code: "circuit_open" });
    expect(await up.calls()).toBe(0);
    await gw.settle();
  });
});
