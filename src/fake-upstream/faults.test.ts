import { describe, expect, it } from "vitest";
import { chatRequest, events, fake, hello, readUntilError, setFaults, timedChunks } from "../../test/support/fake-upstream";
import { type FaultInput, FaultSchema, MemoryFaultStore } from "./faults";

const streamed = hello("gpt-4.1", { stream: true });

describe("fault modes", () => {
  it("status: sends the given status, body and retry headers", async () => {
    const { handler } = fake();
    const body = { error: { message: "slow down", type: "requests", code: "rate_limit_exceeded", param: null } };
    await setFaults(handler, { model: "gpt-4.1", mode: "status", status: 429, retryAfter: "2", retryAfterMs: "1500", body });
    const res = await handler(chatRequest(hello()));
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(res.headers.get("retry-after-ms")).toBe("1500");
    expect(await res.json()).toEqual(body);
  });

  it("status: defaults to 503 with an OpenAI-shaped error", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "status" });
    const res = await handler(chatRequest(hello()));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBeNull();
    expect(await res.json()).toMatchObject({ error: { type: "server_error", param: null } });
  });

  it("usage: an answering mode sends the given usage object verbatim, plain and streamed", async () => {
    const { handler } = fake();
    const usage = { total_tokens: 10 };
    await setFaults(handler, { model: "gpt-4.1", mode: "ok", usage, times: 2 });
    const plain = await handler(chatRequest(hello()));
    expect(((await plain.json()) as { usage: unknown }).usage).toEqual(usage);
    const stream = await handler(chatRequest(hello("gpt-4.1", { stream: true, stream_options: { include_usage: true } })));
    const last = events(await stream.text()).at(-2) ?? "";
    expect(JSON.parse(last).usage).toEqual(usage);
  });

  it("hang: never answers, and gives up when the client aborts", async () => {
    const { handler, stats } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "hang" });
    const client = new AbortController();
    const pending = handler(chatRequest(hello(), { signal: client.signal }));
    const winner = await Promise.race([pending.then(() => "answered"), new Promise((r) => setTimeout(r, 100, "waiting"))]);
    expect(winner).toBe("waiting");
    client.abort();
    await expect(pending).rejects.toThrow();
    expect(stats.snapshot().requests[0]).toMatchObject({ aborted: true, completed: false });
  });

  it("slow_headers: holds the headers back by delayMs", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "slow_headers", delayMs: 150 });
    const start = performance.now();
    const res = await handler(chatRequest(hello()));
    expect(performance.now() - start).toBeGreaterThanOrEqual(140);
    expect(res.status).toBe(200);
  });

  it("slow_chunks: trickles a stream, one event per delay", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "slow_chunks", delayMs: 40 });
    const chunks = await timedChunks(await handler(chatRequest(streamed)));
    expect(chunks.length).toBe(10); // role, 7 words, finish, [DONE]
    expect(chunks.at(-1)?.text).toBe("data: [DONE]\n\n");
    const first = chunks[0]?.at ?? 0;
    expect((chunks.at(-1)?.at ?? 0) - first).toBeGreaterThanOrEqual(9 * 40 - 10);
  });

  it("slow_chunks: delays a plain body after its headers", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "slow_chunks", delayMs: 150 });
    const start = performance.now();
    const res = await handler(chatRequest(hello()));
    const headersAt = performance.now();
    expect(headersAt - start).toBeLessThan(100);
    await res.json();
    expect(performance.now() - start).toBeGreaterThanOrEqual(140);
  });

  it("cut_after: sends `after` events then fails the stream without [DONE]", async () => {
    const { handler, stats } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "cut_after", after: 2 });
    const res = await handler(chatRequest(streamed));
    const { text, error } = await readUntilError(res);
    expect(String(error)).toMatch(/cut/);
    expect(events(text)).toHaveLength(2);
    expect(text).not.toContain("[DONE]");
    expect(stats.snapshot().requests[0]).toMatchObject({ aborted: false, completed: false });
  });

  it("cut_after: truncates a plain JSON body", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "cut_after" });
    const res = await handler(chatRequest(hello()));
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it("bad_json: answers 200 application/json that is not JSON", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "bad_json" });
    const res = await handler(chatRequest(hello()));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    await expect(res.json()).rejects.toThrow();
  });

  it("bad_sse: streams events whose data is not JSON", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "bad_sse" });
    const res = await handler(chatRequest(streamed));
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const evs = events(await res.text());
    expect(evs[0]).toBe("{not json");
    for (const e of evs) expect(() => JSON.parse(e) as unknown).toThrow();
  });

  it("error_event: a 200 stream whose first event is an error", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "error_event" });
    const res = await handler(chatRequest(streamed));
    expect(res.status).toBe(200);
    expect(events(await res.text())).toEqual([
      '{"error":{"message":"upstream overloaded","type":"server_error","code":"overloaded","param":null}}',
    ]);
  });
});

describe("fault selection", () => {
  const store = async (...faults: FaultInput[]): Promise<MemoryFaultStore> => {
    const s = new MemoryFaultStore();
    for (const f of faults) await s.set(FaultSchema.parse(f));
    return s;
  };

  it("consumes `times`, then forgets the fault", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "status", status: 500, times: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await handler(chatRequest(hello()))).status);
    expect(statuses).toEqual([500, 500, 200]);
    const list = await (await handler(new Request("http://upstream.test/__fake/faults"))).json();
    expect(list).toEqual({ faults: [] });
  });

  it("applies a keyed fault only to that bearer key", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "*", mode: "status", status: 401, key: "sk-revoked" });
    expect((await handler(chatRequest(hello(), { key: "sk-revoked" }))).status).toBe(401);
    expect((await handler(chatRequest(hello(), { key: "sk-good" }))).status).toBe(200);
  });

  it("prefers a model's own fault over '*', and the newest among equals", async () => {
    const s = await store(
      { model: "gpt-4.1", mode: "bad_json" },
      { model: "gpt-4.1", mode: "hang" },
      { model: "*", mode: "status" },
    );
    expect((await s.take("gpt-4.1", null))?.mode).toBe("hang");
    expect((await s.take("deepseek-v3.2", null))?.mode).toBe("status");
  });

  it("takes several faults at once, rejects bad ones, and clears", async () => {
    const { handler, faults } = fake();
    await setFaults(handler, {
      faults: [
        { model: "gpt-4.1", mode: "hang" },
        { model: "*", mode: "ok", times: 1 },
      ],
    });
    expect(await faults.list()).toHaveLength(2);
    const bad = await handler(
      new Request("http://upstream.test/__fake/faults", { method: "POST", body: '{"model":"x","mode":"explode"}' }),
    );
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { message: expect.stringContaining("mode") } });
    await handler(new Request("http://upstream.test/__fake/faults", { method: "DELETE" }));
    expect(await faults.list()).toEqual([]);
  });
});
