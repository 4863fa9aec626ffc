import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { BASE, chatRequest, events, fake, hello, KEY, setFaults } from "../../test/support/fake-upstream";
import { FakeStats, keyFingerprint } from "./stats";

const TOOLS = [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }];

describe("answers", () => {
  it("answers a plain request with a full chat.completion", async () => {
    const { handler } = fake();
    const messages = [
      { role: "system", content: "You are terse." },
      { role: "user", content: "hi there" },
    ];
    const res = await handler(chatRequest({ model: "gpt-4.1", messages }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const body = await res.json<Record<string, unknown>>();
    expect(body).toMatchObject({
      id: expect.stringMatching(/^chatcmpl-/),
      object: "chat.completion",
      created: expect.any(Number),
      model: "gpt-4.1",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "Hello from gpt-4.1. You said: hi there" },
          finish_reason: "stop",
        },
      ],
      // 22 characters of content / 4, rounded up; 7 words answered.
      usage: { prompt_tokens: 6, completion_tokens: 7, total_tokens: 13 },
    });
  });

  it("streams a role chunk, one chunk per word, a finish chunk and [DONE]", async () => {
    const { handler } = fake();
    const res = await handler(chatRequest(hello("deepseek-v3.2", { stream: true })));
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const evs = events(await res.text());
    expect(evs.at(-1)).toBe("[DONE]");
    const chunks = evs.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    const words = chunks.slice(1, -1).map((c) => c.choices[0].delta.content);
    expect(words).toEqual(["Hello ", "from ", "deepseek-v3.2. ", "You ", "said: ", "hi ", "there"]);
    expect(chunks.at(-1).choices[0]).toMatchObject({ delta: {}, finish_reason: "stop" });
    for (const c of chunks) {
      expect(c).toMatchObject({ object: "chat.completion.chunk", id: chunks[0].id, model: "deepseek-v3.2" });
      expect(c).not.toHaveProperty("usage");
    }
  });

  it("sends a usage-only chunk only when stream_options.include_usage is set", async () => {
    const { handler } = fake();
    const res = await handler(chatRequest(hello("gpt-4.1", { stream: true, stream_options: { include_usage: true } })));
    const evs = events(await res.text());
    expect(evs.at(-1)).toBe("[DONE]");
    const usage = JSON.parse(evs.at(-2) ?? "");
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual({ prompt_tokens: 2, completion_tokens: 7, total_tokens: 9 });
    const finish = JSON.parse(evs.at(-3) ?? "");
    expect(finish.choices[0].finish_reason).toBe("stop");
    expect(finish.usage).toBeNull();
  });

  it("calls the first tool when tools are offered, and reads a tool result back", async () => {
    const { handler } = fake();
    const res = await handler(chatRequest(hello("gpt-4.1", { tools: TOOLS })));
    const body = await res.json<{ choices: { message: Record<string, unknown>; finish_reason: string }[] }>();
    expect(body.choices[0]?.finish_reason).toBe("tool_calls");
    expect(body.choices[0]?.message).toMatchObject({
      content: null,
      tool_calls: [
        { id: expect.stringMatching(/^call_/), type: "function", function: { name: "lookup", arguments: '{"echo":"hi there"}' } },
      ],
    });

    const messages = [
      { role: "user", content: "hi there" },
      { role: "assistant", content: null, tool_calls: body.choices[0]?.message.tool_calls },
      { role: "tool", tool_call_id: "call_1", content: "42" },
    ];
    const second = await handler(chatRequest({ model: "gpt-4.1", tools: TOOLS, messages }));
    const again = await second.json<{ choices: { message: { content: string } }[] }>();
    expect(again.choices[0]?.message.content).toBe("Tool said: 42");
  });

  it("streams tool calls the way OpenAI does", async () => {
    const { handler } = fake();
    const res = await handler(chatRequest(hello("gpt-4.1", { tools: TOOLS, stream: true })));
    const chunks = events(await res.text())
      .slice(0, -1)
      .map((e) => JSON.parse(e));
    const deltas = chunks.map((c) => c.choices[0].delta);
    expect(deltas[1].tool_calls[0]).toMatchObject({ index: 0, type: "function", function: { name: "lookup", arguments: "" } });
    expect(deltas[1].tool_calls[0].id).toMatch(/^call_/);
    const fragments = deltas.slice(2, -1).map((d) => d.tool_calls[0].function.arguments);
    expect(fragments.length).toBeGreaterThan(1);
    expect(fragments.join("")).toBe('{"echo":"hi there"}');
    expect(chunks.at(-1).choices[0].finish_reason).toBe("tool_calls");
  });

  it("is understood by the OpenAI SDK, streamed and not", async () => {
    const { handler } = fake();
    const client = new OpenAI({ apiKey: KEY, baseURL: BASE, fetch: (input, init) => handler(new Request(input, init)) });
    const plain = await client.chat.completions.create({ model: "gpt-4.1", messages: [{ role: "user", content: "yo" }] });
    expect(plain.choices[0]?.message.content).toBe("Hello from gpt-4.1. You said: yo");

    const stream = client.chat.completions.stream({
      model: "gpt-4.1",
      messages: [{ role: "user", content: "yo" }],
      tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }],
      stream_options: { include_usage: true },
    });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.message.tool_calls?.[0]).toMatchObject({ function: { name: "lookup", arguments: '{"echo":"yo"}' } });
    expect(final.usage?.total_tokens).toBeGreaterThan(0);

    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["gpt-4.1", "deepseek-v3.2"]);
  });
});

describe("request errors", () => {
  it("wants a bearer key", async () => {
    const { handler } = fake();
    const res = await handler(chatRequest(hello(), { key: null }));
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { type: "invalid_request_error", code: "invalid_api_key" } });
    expect((await handler(new Request(`${BASE}/models`))).status).toBe(401);
  });

  it("rejects a body that is not JSON", async () => {
    const { handler } = fake();
    const res = await handler(chatRequest("{nope"));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { type: "invalid_request_error", param: null } });
  });

  it("says an unknown model does not exist", async () => {
    const { handler } = fake();
    const res = await handler(chatRequest(hello("gpt-9")));
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        message: "The model `gpt-9` does not exist",
        type: "invalid_request_error",
        code: "model_not_found",
        param: "model",
      },
    });
  });
});

describe("stats", () => {
  it("records each chat request with its key fingerprint and how it ended", async () => {
    const { handler } = fake();
    await (await handler(chatRequest(hello("gpt-4.1")))).text();
    await (await handler(chatRequest(hello("deepseek-v3.2", { stream: true }), { key: "sk-other" }))).text();
    const stats = await (await handler(new Request("http://upstream.test/__fake/stats"))).json<
      ReturnType<FakeStats["snapshot"]>
    >();
    expect(stats.requests).toMatchObject([
      {
        model: "gpt-4.1",
        stream: false,
        keyFingerprint: await keyFingerprint(KEY),
        completed: true,
        aborted: false,
        body: hello(),
      },
      { model: "deepseek-v3.2", stream: true, keyFingerprint: await keyFingerprint("sk-other"), completed: true },
    ]);
    expect(stats.requests[0]?.keyFingerprint).toMatch(/^[0-9a-f]{8}$/);
    expect(stats.inFlight).toEqual({ "gpt-4.1": 0, "deepseek-v3.2": 0 });

    await handler(new Request("http://upstream.test/__fake/stats", { method: "DELETE" }));
    const cleared = await (await handler(new Request("http://upstream.test/__fake/stats"))).json<{ requests: unknown[] }>();
    expect(cleared.requests).toEqual([]);
  });

  it("counts concurrency and notices a client going away mid-stream", async () => {
    const { handler, stats } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "slow_chunks", delayMs: 50 });
    const clients = [new AbortController(), new AbortController(), new AbortController()];
    const responses = await Promise.all(
      clients.map((c) => handler(chatRequest(hello("gpt-4.1", { stream: true }), { signal: c.signal }))),
    );
    expect(stats.snapshot().inFlight["gpt-4.1"]).toBe(3);

    const reader = responses[0]?.body?.getReader();
    await reader?.read();
    clients[0]?.abort();
    await reader?.cancel();
    await responses[1]?.body?.cancel();
    await responses[2]?.text();

    const snap = stats.snapshot();
    expect(snap.maxInFlight["gpt-4.1"]).toBe(3);
    expect(snap.inFlight["gpt-4.1"]).toBe(0);
    expect(snap.requests.map((r) => [r.aborted, r.completed])).toEqual([
      [true, false],
      [true, false],
      [false, true],
    ]);
  });

  it("keeps only the last 1000 requests", () => {
    const stats = new FakeStats();
    const signal = new AbortController().signal;
    for (let i = 0; i < 1005; i++) stats.begin({ model: "m", stream: false, keyFingerprint: "", at: i, body: null }, signal);
    const { requests } = stats.snapshot();
    expect(requests).toHaveLength(1000);
    expect(requests[0]?.at).toBe(5);
  });
});

describe("large answers (the `large` mode, for benches)", () => {
  it("streams `bytes` of content in `chunkBytes` events, lazily, ending in [DONE]", async () => {
    const { handler, stats } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "large", bytes: 100_000, chunkBytes: 4096 });
    const res = await handler(chatRequest(hello("gpt-4.1", { stream: true, stream_options: { include_usage: true } })));
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let reads = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      reads++;
      text += decoder.decode(value, { stream: true });
    }
    const evs = events(text);
    expect(evs.at(-1)).toBe("[DONE]");
    const chunks = evs.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    const content = chunks.slice(1, -2).map((c) => c.choices[0].delta.content as string);
    // ceil(100000 / 4096) content events, all full but the last.
    expect(content).toHaveLength(25);
    expect(content.slice(0, -1).every((p) => p.length === 4096)).toBe(true);
    expect(content.join("")).toHaveLength(100_000);
    expect(content.join("")).toMatch(/^the quick brown fox/);
    expect(chunks.at(-2).choices[0].finish_reason).toBe("stop");
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 25_000 } });
    for (const c of chunks) expect(c).toMatchObject({ object: "chat.completion.chunk", id: chunks[0].id, model: "gpt-4.1" });
    // One event per read: produced on demand, never ahead of the reader.
    expect(reads).toBe(evs.length);
    expect(stats.snapshot().requests[0]).toMatchObject({ completed: true });
  });

  it("answers a plain request with one chat.completion of `bytes` content", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "large", bytes: 50_000 });
    const res = await handler(chatRequest(hello()));
    const body = await res.json<{ object: string; choices: { message: { content: string } }[] }>();
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0]?.message.content).toHaveLength(50_000);
  });

  it("defaults to 1 MiB and rejects a bad size", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "large" });
    const text = await (await handler(chatRequest(hello("gpt-4.1", { stream: true })))).text();
    const content = events(text)
      .slice(1, -2)
      .map((e) => JSON.parse(e).choices[0].delta.content as string);
    expect(content.join("")).toHaveLength(1_048_576);
    expect(content).toHaveLength(64);
    const bad = await handler(
      new Request("http://upstream.test/__fake/faults", {
        method: "POST",
        body: JSON.stringify({ model: "*", mode: "large", chunkBytes: 0 }),
      }),
    );
    expect(bad.status).toBe(400);
  });
});
