import { describe, expect, it } from "vitest";
import { eventually, expectOpenAIError } from "./support/expect";
import { chat, chatBody, gateway, sseData, UPSTREAM_KEY, Upstream, uniqueModel, WEB_KEY } from "./support/harness";

const TIMEOUTS = { requestMs: 300, streamIdleMs: 300, streamTotalMs: 5000, deadlineMs: 2000 };

/** One model, no fallbacks, no retries (unless `config` says otherwise), short timeouts. */
function setup(config: Record<string, unknown> = {}, vars: Record<string, unknown> = {}) {
  const up = new Upstream();
  const model = uniqueModel();
  const gw = gateway(up, {
    config: { models: { [model]: {} }, retry: { maxRetries: 0 }, timeouts: TIMEOUTS, ...config },
    ...vars,
  });
  return { up, model, gw };
}

const answerOf = (model: string) => `Hello from ${model}. You said: hi there`;

interface Chunk {
  object: string;
  choices: { delta?: { content?: string } }[];
}

function textOf(events: string[]): string {
  return events
    .filter((e) => e !== "[DONE]")
    .map((e) => JSON.parse(e) as Chunk & { error?: unknown })
    .filter((c) => c.error === undefined)
    .map((c) => c.choices[0]?.delta?.content ?? "")
    .join("");
}

/** Asserts the stream ended in DESIGN §5's mid-stream error: an upstream_error event, no [DONE]. */
function expectErrorEnding(events: string[]): { message: string; type: string; code: string } {
  expect(events).not.toContain("[DONE]");
  const last = events.at(-1);
  expect(last).toBeDefined();
  const parsed = JSON.parse(last ?? "{}") as { error?: { message: string; type: string; code: string } };
  expect(parsed.error).toBeDefined();
  expect(parsed.error?.type).toBe("upstream_error");
  expect(typeof parsed.error?.message).toBe("string");
  expect(parsed.error?.code).toBeTruthy();
  // Exactly one error event, and it is the last.
  expect(events.filter((e) => e.includes('"error"'))).toHaveLength(1);
  return parsed.error as { message: string; type: string; code: string };
}

describe("failures before commit: the client gets a clear error (no fallback configured)", () => {
  it.each([[500], [502], [503], [504]])("upstream %i → 502 upstream_error", async (status) => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "status", status });
    const res = await chat(gw, chatBody(model));
    expect(res.headers.get("x-gateway-model")).toBe(model);
    await expectOpenAIError(res, 502, { type: "upstream_error", code: "upstream_error" });
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
  });

  it("upstream 5xx on a stream → 502 before commit, not a 200", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "status", status: 503 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    await expectOpenAIError(res, 502, { type: "upstream_error", code: "upstream_error" });
    await gw.settle();
  });

  it("connection refused → 502 upstream_error", async () => {
    const { up, model, gw } = setup({}, { HOLYSHEEP_BASE_URL: "http://127.0.0.1:1/v1" });
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 502, { type: "upstream_error", code: "upstream_error" });
    expect(await up.calls()).toBe(0);
    await gw.settle();
  });

  it.each([
    ["hang", { mode: "hang" }, false],
    ["hang (stream)", { mode: "hang" }, true],
    ["slow_headers", { mode: "slow_headers", delayMs: 1500 }, false],
    ["slow_headers (stream)", { mode: "slow_headers", delayMs: 1500 }, true],
  ])("no headers within requestMs (%s) → 504 upstream_timeout, upstream call aborted", async (_, fault, stream) => {
    const { up, model, gw } = setup();
    await up.fault({ model, ...fault });
    const started = Date.now();
    const res = await chat(gw, chatBody(model, { stream }));
    const took = Date.now() - started;
    await expectOpenAIError(res, 504, { type: "upstream_error", code: "upstream_timeout" });
    // Decided by requestMs (300), well before the slow upstream would have answered.
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1200);
    await eventually(async () => (await up.stats()).requests[0]?.aborted === true);
    await gw.settle();
  });

  it("a non-streamed body that stalls after its headers → 504 upstream_timeout", async () => {
    const { up, model, gw } = setup();
    // slow_chunks on a plain answer sends headers at once and the body after delayMs.
    await up.fault({ model, mode: "slow_chunks", delayMs: 1500 });
    const started = Date.now();
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 504, { type: "upstream_error", code: "upstream_timeout" });
    expect(Date.now() - started).toBeLessThan(1200);
    await gw.settle();
  });

  it("a stream whose first event is an SSE error (error_event) → 502, not a 200", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "error_event" });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.headers.get("content-type") ?? "").not.toContain("text/event-stream");
    await expectOpenAIError(res, 502, { type: "upstream_error", code: "upstream_error" });
    await gw.settle();
  });

  it("a 200 JSON error body on a non-streamed call (error_event) → 502", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "error_event" });
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 502, { type: "upstream_error", code: "upstream_error" });
    await gw.settle();
  });

  it("malformed JSON (bad_json) → 502", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "bad_json" });
    const res = await chat(gw, chatBody(model));
    const err = await expectOpenAIError(res, 502, { type: "upstream_error", code: "upstream_error" });
    expect(err.message).not.toContain("<html>");
    await gw.settle();
  });

  it("malformed SSE (bad_sse) → 502", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "bad_sse" });
    const res = await chat(gw, chatBody(model, { stream: true }));
    await expectOpenAIError(res, 502, { type: "upstream_error", code: "upstream_error" });
    await gw.settle();
  });

  it("a stream cut before its first event (cut_after 0) → 502, not a 200", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "cut_after", after: 0 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    await expectOpenAIError(res, 502, { type: "upstream_error" });
    await gw.settle();
  });

  it("a non-streamed body cut in half (cut_after) → 502", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "cut_after" });
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 502, { type: "upstream_error" });
    await gw.settle();
  });

  it.each([[400], [404], [413], [422]])("upstream %i is relayed with its status and message", async (status) => {
    const { up, model, gw } = setup();
    const body = {
      error: {
        message: `custom upstream complaint ${status}`,
        type: "invalid_request_error",
        code: `code_${status}`,
        param: "messages",
      },
    };
    await up.fault({ model, mode: "status", status, body });
    const res = await chat(gw, chatBody(model));
    const err = await expectOpenAIError(res, status, { type: "invalid_request_error" });
    expect(err.message).toBe(`custom upstream complaint ${status}`);
    expect(err.code).toBe(`code_${status}`);
    expect(err.param).toBe("messages");
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
  });

  it("upstream 4xx on a stream is relayed too (422)", async () => {
    const { up, model, gw } = setup();
    await up.fault({
      model,
      mode: "status",
      status: 422,
      body: { error: { message: "nope", type: "invalid_request_error", code: null, param: null } },
    });
    const res = await chat(gw, chatBody(model, { stream: true }));
    const err = await expectOpenAIError(res, 422);
    expect(err.message).toBe("nope");
    await gw.settle();
  });

  it("a client 4xx is not retried and does not count against the circuit", async () => {
    const { up, model, gw } = setup({ retry: { maxRetries: 3 }, breaker: { failureThreshold: 1 } });
    await up.fault({ model, mode: "status", status: 400, times: 3 });
    for (let i = 0; i < 3; i++) expect((await chat(gw, chatBody(model))).status).toBe(400);
    expect(await up.calls(model)).toBe(3);
    await gw.settle();
    const ok = await chat(gw, chatBody(model));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-gateway-circuit")).toBe("closed");
    await ok.body?.cancel();
    await gw.settle();
  });

  it.each([[401], [403]])("upstream %i → 502 upstream_auth_error with no key material", async (status) => {
    const { up, model, gw } = setup();
    const leaky = {
      error: {
        message: `Incorrect API key provided: ${UPSTREAM_KEY}.`,
        type: "invalid_request_error",
        code: "invalid_api_key",
        param: null,
      },
    };
    await up.fault({ model, mode: "status", status, body: leaky });
    const res = await chat(gw, chatBody(model));
    const text = await res.clone().text();
    await expectOpenAIError(res, 502, { type: "upstream_error", code: "upstream_auth_error" });
    expect(text).not.toContain(UPSTREAM_KEY);
    expect(text).not.toContain(UPSTREAM_KEY.slice(0, 12));
    for (const [, value] of res.headers) expect(value).not.toContain(UPSTREAM_KEY);
    await gw.settle();
  });

  it("a 401 on one key moves to the next key (HOLYSHEEP_API_KEY with two keys)", async () => {
    const k2 = "sk-test-second-1111111111111111";
    const { up, model, gw } = setup({}, { HOLYSHEEP_API_KEY: `${UPSTREAM_KEY},${k2}` });
    await up.fault({ model, mode: "status", status: 401, key: UPSTREAM_KEY });
    const res = await chat(gw, chatBody(model));
    expect(res.status, await res.clone().text()).toBe(200);
    await res.body?.cancel();
    const fingerprints = (await up.stats()).requests.map((r) => r.keyFingerprint);
    expect(fingerprints).toHaveLength(2);
    expect(new Set(fingerprints).size).toBe(2);
    // The refused key stays aside: the next request goes straight to the second key.
    const again = await chat(gw, chatBody(model));
    expect(again.status).toBe(200);
    await again.body?.cancel();
    const after = (await up.stats()).requests.map((r) => r.keyFingerprint);
    expect(after).toHaveLength(3);
    expect(after[2]).toBe(after[1]);
    await gw.settle();
  });

  it("401 on every key → 502 upstream_auth_error after trying each key once", async () => {
    const k2 = "sk-test-second-2222222222222222";
    const { up, model, gw } = setup({}, { HOLYSHEEP_API_KEY: `${UPSTREAM_KEY},${k2}` });
    await up.fault({ model, mode: "status", status: 401 });
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 502, { type: "upstream_error", code: "upstream_auth_error" });
    const prints = (await up.stats()).requests.map((r) => r.keyFingerprint);
    expect(prints).toHaveLength(2);
    expect(new Set(prints).size).toBe(2);
    await gw.settle();
  });

  it("429 without Retry-After → 429 rate_limited with a Retry-After of at least 1 s", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "status", status: 429 });
    const res = await chat(gw, chatBody(model));
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(res.headers.get("retry-after-ms"))).toBeGreaterThan(0);
    await expectOpenAIError(res, 429, { type: "rate_limit_error", code: "rate_limited" });
    await gw.settle();
  });

  it("429 → 429 rate_limited with Retry-After from the upstream", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "status", status: 429, retryAfter: "2" });
    const res = await chat(gw, chatBody(model));
    expect(res.headers.get("retry-after")).toBe("2");
    expect(Number(res.headers.get("retry-after-ms"))).toBeGreaterThan(1000);
    expect(Number(res.headers.get("retry-after-ms"))).toBeLessThanOrEqual(2000);
    await expectOpenAIError(res, 429, { code: "rate_limited" });
    await gw.settle();
  });
});

describe("retries", () => {
  it("a transient 5xx is retried once (maxRetries 1) and the retry's answer served", async () => {
    const { up, model, gw } = setup({ retry: { maxRetries: 1, baseDelayMs: 1 } });
    await up.fault({ model, mode: "status", status: 503, times: 1 });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe(
      answerOf(model),
    );
    expect(await up.calls(model)).toBe(2);
    await gw.settle();
  });

  it("maxRetries 0 means one attempt", async () => {
    const { up, model, gw } = setup();
    await up.fault({ model, mode: "status", status: 503, times: 1 });
    expect((await chat(gw, chatBody(model))).status).toBe(502);
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
  });

  it("a final error after retries carries x-should-retry: false", async () => {
    const { up, model, gw } = setup({ retry: { maxRetries: 2, baseDelayMs: 1 } });
    await up.fault({ model, mode: "status", status: 500 });
    const res = await chat(gw, chatBody(model));
    expect(res.headers.get("x-should-retry")).toBe("false");
    await expectOpenAIError(res, 502, { code: "upstream_error" });
    expect(await up.calls(model)).toBe(3);
    await gw.settle();
  });
});

describe("failures after commit, stream recovery off: the stream ends with an SSE error event, no [DONE]", () => {
  it("a stream going idle after commit (slow_chunks delayMs > streamIdleMs)", async () => {
    const { up, model, gw } = setup({ streamRecovery: { mode: "off" } });
    await up.fault({ model, mode: "slow_chunks", delayMs: 1000 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const started = Date.now();
    const events = sseData(await res.text());
    expect(Date.now() - started).toBeLessThan(900);
    const err = expectErrorEnding(events);
    expect(err.code).toBe("upstream_timeout");
    // What came before the error is the start of the real answer.
    expect(answerOf(model).startsWith(textOf(events))).toBe(true);
    await eventually(async () => (await up.stats()).requests[0]?.aborted === true);
    await gw.settle();
  });

  it("a stream cut before [DONE] (cut_after), partial text intact before the error", async () => {
    const { up, model, gw } = setup({ streamRecovery: { mode: "off" } });
    await up.fault({ model, mode: "cut_after", after: 3 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    const events = sseData(await res.text());
    expectErrorEnding(events);
    // 3 events: the role chunk and the first two words.
    expect(events).toHaveLength(4);
    expect(textOf(events)).toBe("Hello from ");
    for (const e of events.slice(0, -1)) expect((JSON.parse(e) as Chunk).object).toBe("chat.completion.chunk");
    await gw.settle();
  });

  it("a stream cut later (cut_after 6) keeps every word sent", async () => {
    const { up, model, gw } = setup({ streamRecovery: { mode: "off" } });
    await up.fault({ model, mode: "cut_after", after: 6 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    const events = sseData(await res.text());
    expectErrorEnding(events);
    const text = textOf(events);
    expect(text.length).toBeGreaterThan("Hello from ".length);
    expect(answerOf(model).startsWith(text)).toBe(true);
    expect(text).not.toBe(answerOf(model));
    await gw.settle();
  });

  it("a stream over streamTotalMs ends with an SSE error", async () => {
    const { up, model, gw } = setup({
      streamRecovery: { mode: "off" },
      timeouts: { ...TIMEOUTS, streamIdleMs: 1000, streamTotalMs: 400 },
    });
    await up.fault({ model, mode: "slow_chunks", delayMs: 150 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    const events = sseData(await res.text());
    const err = expectErrorEnding(events);
    expect(err.code).toBe("upstream_timeout");
    await gw.settle();
  });

  it("a mid-stream failure counts against the circuit (failureThreshold 1 opens it)", async () => {
    const { up, model, gw } = setup({ streamRecovery: { mode: "off" }, breaker: { failureThreshold: 1, openTimeoutMs: 60_000 } });
    await up.fault({ model, mode: "slow_chunks", delayMs: 1000, times: 1 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    expectErrorEnding(sseData(await res.text()));
    await gw.settle();
    // The failure is reported at once; within 2 × snapshotTtlMs this isolate sees the open circuit.
    await eventually(async () => {
      const next = await chat(gw, chatBody(model));
      await next.body?.cancel();
      await gw.settle();
      return next.status === 503;
    });
    expect(await up.calls(model)).toBeLessThanOrEqual(3);
  });
});

describe("streaming is passthrough, and the client going away cancels the upstream", () => {
  it("the first chunk reaches the client before the upstream sends its last one", async () => {
    const { up, model, gw } = setup({ timeouts: { ...TIMEOUTS, streamIdleMs: 1000 } });
    await up.fault({ model, mode: "slow_chunks", delayMs: 150 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    expect(new TextDecoder().decode(first.value)).toContain("chat.completion.chunk");
    const [sent] = (await up.stats()).requests;
    expect(sent?.completed).toBe(false);
    expect(sent?.aborted).toBe(false);
    // The next event follows on its own, still while the upstream is sending.
    const second = await reader.read();
    expect(second.done).toBe(false);
    expect(new TextDecoder().decode(second.value)).toContain("chat.completion.chunk");
    expect((await up.stats()).requests[0]?.completed).toBe(false);
    await reader.cancel();
    await gw.settle();
  });

  it("a slow client is not an idle upstream: pausing longer than streamIdleMs loses nothing", async () => {
    const { model, gw } = setup();
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value, { stream: true });
    // The client holds back for longer than streamIdleMs (300) while the upstream has data ready.
    await new Promise((r) => setTimeout(r, 500));
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const events = sseData(text);
    expect(events.at(-1)).toBe("[DONE]");
    expect(textOf(events)).toBe(answerOf(model));
    await gw.settle();
  });

  it("cancelling the response body mid-stream aborts the upstream request", async () => {
    const { up, model, gw } = setup({ timeouts: { ...TIMEOUTS, streamIdleMs: 2000 } });
    await up.fault({ model, mode: "slow_chunks", delayMs: 200 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    expect((await up.stats()).requests[0]?.aborted).toBe(false);
    await reader.cancel();
    await eventually(async () => (await up.stats()).requests[0]?.aborted === true, 2000);
    const [sent] = (await up.stats()).requests;
    expect(sent?.completed).toBe(false);
    await gw.settle();
  });

  it("the client's request signal aborting mid-stream aborts the upstream request", async () => {
    const { up, model, gw } = setup({ timeouts: { ...TIMEOUTS, streamIdleMs: 2000 } });
    await up.fault({ model, mode: "slow_chunks", delayMs: 200 });
    const client = new AbortController();
    const res = await gw.fetch(
      new Request("http://gateway.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${WEB_KEY}`, "content-type": "application/json" },
        body: JSON.stringify(chatBody(model, { stream: true })),
        signal: client.signal,
      }),
    );
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    expect((await reader.read()).done).toBe(false);
    client.abort();
    await eventually(async () => (await up.stats()).requests[0]?.aborted === true, 2000);
    await reader.cancel().catch(() => {});
    await gw.settle();
  });

  it("the client going away before commit aborts the upstream request", async () => {
    const { up, model, gw } = setup({ timeouts: { ...TIMEOUTS, requestMs: 5000, deadlineMs: 5000 } });
    await up.fault({ model, mode: "hang" });
    const client = new AbortController();
    const pending = gw.fetch(
      new Request("http://gateway.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${WEB_KEY}`, "content-type": "application/json" },
        body: JSON.stringify(chatBody(model)),
        signal: client.signal,
      }),
    );
    await eventually(async () => (await up.calls(model)) === 1);
    const started = Date.now();
    client.abort();
    await eventually(async () => (await up.stats()).requests[0]?.aborted === true, 2000);
    const res = await pending;
    expect(Date.now() - started).toBeLessThan(2000);
    await res.body?.cancel();
    await gw.settle();
  });

  it("a client going away is not a failure: the circuit stays closed", async () => {
    const { up, model, gw } = setup({ breaker: { failureThreshold: 1 }, timeouts: { ...TIMEOUTS, streamIdleMs: 2000 } });
    await up.fault({ model, mode: "slow_chunks", delayMs: 200, times: 1 });
    const res = await chat(gw, chatBody(model, { stream: true }));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    await eventually(async () => (await up.stats()).requests[0]?.aborted === true, 2000);
    await gw.settle();
    await new Promise((r) => setTimeout(r, 120)); // > 2 × snapshotTtlMs (50): any report would be seen
    const next = await chat(gw, chatBody(model));
    expect(next.status).toBe(200);
    expect(next.headers.get("x-gateway-circuit")).toBe("closed");
    await next.body?.cancel();
    await gw.settle();
  });
});
