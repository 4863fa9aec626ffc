import { describe, expect, it, vi } from "vitest";
import { expectOpenAIError } from "./support/expect";
import { chat, chatBody, gateway, IOS_KEY, singleModel, Upstream, uniqueModel, WEB_KEY } from "./support/harness";

const setup = singleModel;

const encoder = new TextEncoder();

/** A body delivered as a stream of `pieces` chunks of `size` bytes each (no Content-Length unless given). */
function streamedBody(text: string, pieceSize = 256): ReadableStream<Uint8Array> {
  const bytes = encoder.encode(text);
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.byteLength) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(at, at + pieceSize));
      at += pieceSize;
    },
  });
}

describe("bad requests are refused in OpenAI's shape and never reach the upstream", () => {
  it("refuses a body that is not JSON (400)", async () => {
    const { up, gw } = setup();
    const res = await chat(gw, "{not json");
    await expectOpenAIError(res, 400, { type: "invalid_request_error" });
    expect(await up.calls()).toBe(0);
  });

  it.each([
    ["an array", "[1,2,3]"],
    ["a string", '"hello"'],
    ["a number", "42"],
    ["null", "null"],
  ])("refuses JSON that is not an object: %s (400)", async (_, raw) => {
    const { up, gw } = setup();
    const res = await chat(gw, raw);
    await expectOpenAIError(res, 400, { type: "invalid_request_error" });
    expect(await up.calls()).toBe(0);
  });

  it("refuses missing messages (400, param messages)", async () => {
    const { up, model, gw } = setup();
    const res = await chat(gw, { model });
    await expectOpenAIError(res, 400, { type: "invalid_request_error", param: "messages", message: /messages/ });
    expect(await up.calls()).toBe(0);
  });

  it("refuses empty messages (400, param messages)", async () => {
    const { up, model, gw } = setup();
    const res = await chat(gw, { model, messages: [] });
    await expectOpenAIError(res, 400, { type: "invalid_request_error", param: "messages" });
    expect(await up.calls()).toBe(0);
  });

  it("refuses messages that is not an array (400, param messages)", async () => {
    const { up, model, gw } = setup();
    const res = await chat(gw, { model, messages: "hi" });
    await expectOpenAIError(res, 400, { type: "invalid_request_error", param: "messages" });
    expect(await up.calls()).toBe(0);
  });

  it("refuses an unknown role (400, param names the message)", async () => {
    const { up, model, gw } = setup();
    const res = await chat(gw, {
      model,
      messages: [
        { role: "user", content: "a" },
        { role: "wizard", content: "hi" },
      ],
    });
    await expectOpenAIError(res, 400, { type: "invalid_request_error", param: /^messages\[1\]/ });
    expect(await up.calls()).toBe(0);
  });

  it.each([
    ["a number as user content", { role: "user", content: 42 }],
    ["an object as user content", { role: "user", content: { text: "hi" } }],
    ["an unknown content part type", { role: "user", content: [{ type: "video", video: "x" }] }],
    ["a text part without text", { role: "user", content: [{ type: "text" }] }],
    [
      "an image part as system content",
      { role: "system", content: [{ type: "image_url", image_url: { url: "https://x/y.png" } }] },
    ],
    ["null content on a user message", { role: "user", content: null }],
    ["null content on an assistant message without tool_calls", { role: "assistant", content: null }],
    ["a tool message without tool_call_id", { role: "tool", content: "42" }],
    ["a message that is a string", "hello"],
    ["a message without a role", { content: "hi" }],
  ])("refuses content of the wrong type: %s (400)", async (_, message) => {
    const { up, model, gw } = setup();
    const res = await chat(gw, { model, messages: [message] });
    await expectOpenAIError(res, 400, { type: "invalid_request_error", param: /^messages\[0\]/ });
    expect(await up.calls()).toBe(0);
  });

  it("refuses a missing model (400, param model)", async () => {
    const { up, gw } = setup();
    const res = await chat(gw, { messages: [{ role: "user", content: "hi" }] });
    await expectOpenAIError(res, 400, { type: "invalid_request_error", param: "model" });
    expect(await up.calls()).toBe(0);
  });

  it("refuses a model that is not a string (400, param model)", async () => {
    const { up, gw } = setup();
    const res = await chat(gw, { model: 7, messages: [{ role: "user", content: "hi" }] });
    await expectOpenAIError(res, 400, { type: "invalid_request_error", param: "model" });
    expect(await up.calls()).toBe(0);
  });

  it("answers 404 model_not_found (param model) for a model that is not configured", async () => {
    const { up, gw } = setup();
    const other = uniqueModel(); // the fake would answer it: only the gateway's config says no
    const res = await chat(gw, chatBody(other));
    await expectOpenAIError(res, 404, { type: "invalid_request_error", code: "model_not_found", param: "model" });
    expect(await up.calls()).toBe(0);
  });

  it.each([["yes"], [1], [null], [{}]])("refuses a stream that is not a boolean: %j (400, param stream)", async (stream) => {
    const { up, model, gw } = setup();
    const res = await chat(gw, chatBody(model, { stream }));
    await expectOpenAIError(res, 400, { type: "invalid_request_error", param: "stream" });
    expect(await up.calls()).toBe(0);
  });

  it.each([
    ["n", 0],
    ["n", 129],
    ["n", 1.5],
    ["n", "2"],
    ["max_tokens", 0],
    ["max_tokens", -5],
    ["max_tokens", 2.5],
    ["max_completion_tokens", 0],
    ["temperature", -0.1],
    ["temperature", 2.1],
    ["temperature", "hot"],
    ["top_p", -0.5],
    ["top_p", 1.01],
    ["presence_penalty", 2.5],
    ["frequency_penalty", -3],
  ])("refuses %s = %j (400, param names it)", async (field, value) => {
    const { up, model, gw } = setup();
    const res = await chat(gw, chatBody(model, { [field]: value }));
    await expectOpenAIError(res, 400, { type: "invalid_request_error", param: field });
    expect(await up.calls()).toBe(0);
  });

  it("accepts the edges of each range (n 1 and 128, temperature 0 and 2, top_p 0 and 1)", async () => {
    const tenants = { default: { requestsPerMinute: null, maxChoices: null }, ip: { requestsPerMinute: null } };
    const { up, model, gw } = setup({}, { tenants });
    for (const extra of [
      { n: 1, temperature: 0, top_p: 0 },
      { n: 128, temperature: 2, top_p: 1, max_tokens: 1 },
    ]) {
      const res = await chat(gw, chatBody(model, extra));
      expect(res.status, await res.clone().text()).toBe(200);
      await res.body?.cancel();
    }
    expect(await up.calls()).toBe(2);
    await gw.settle();
  });
});

describe("body size limit (limits.maxBodyBytes), enforced while reading", () => {
  const MAX = 1000;
  const big = (model: string) => JSON.stringify(chatBody(model, { messages: [{ role: "user", content: "x".repeat(5000) }] }));

  it("refuses an honest oversized body (413)", async () => {
    const { up, model, gw } = setup({}, { limits: { maxBodyBytes: MAX } });
    const res = await chat(gw, big(model));
    await expectOpenAIError(res, 413, { type: "invalid_request_error" });
    expect(await up.calls()).toBe(0);
  });

  it("refuses an oversized body whose Content-Length lies (declares small, sends big) (413)", async () => {
    const { up, model, gw } = setup({}, { limits: { maxBodyBytes: MAX } });
    const req = new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${WEB_KEY}`, "content-type": "application/json", "content-length": "100" },
      body: streamedBody(big(model)),
      // @ts-expect-error: `duplex` is required by some runtimes for stream bodies, unknown to the types
      duplex: "half",
    });
    expect(req.headers.get("content-length")).toBe("100");
    const res = await gw.fetch(req);
    await expectOpenAIError(res, 413, { type: "invalid_request_error" });
    expect(await up.calls()).toBe(0);
  });

  it("refuses an oversized streamed body without Content-Length (413)", async () => {
    const { up, model, gw } = setup({}, { limits: { maxBodyBytes: MAX } });
    const req = new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${WEB_KEY}`, "content-type": "application/json" },
      body: streamedBody(big(model)),
      // @ts-expect-error: see above
      duplex: "half",
    });
    expect(req.headers.get("content-length")).toBeNull();
    const res = await gw.fetch(req);
    await expectOpenAIError(res, 413, { type: "invalid_request_error" });
    expect(await up.calls()).toBe(0);
  });

  it("accepts a streamed body under the limit without Content-Length", async () => {
    const { up, model, gw } = setup({}, { limits: { maxBodyBytes: MAX } });
    const req = new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${WEB_KEY}`, "content-type": "application/json" },
      body: streamedBody(JSON.stringify(chatBody(model)), 7),
      // @ts-expect-error: see above
      duplex: "half",
    });
    const res = await gw.fetch(req);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { object: string }).object).toBe("chat.completion");
    expect(await up.calls()).toBe(1);
    await gw.settle();
  });

  it("counts bytes, not characters (a multi-byte body just over the limit is refused)", async () => {
    const { up, model, gw } = setup({}, { limits: { maxBodyBytes: MAX } });
    // ~400 characters of 3-byte text: under MAX in characters, over it in bytes.
    const text = JSON.stringify(chatBody(model, { messages: [{ role: "user", content: "€".repeat(400) }] }));
    expect(text.length).toBeLessThan(MAX);
    expect(encoder.encode(text).byteLength).toBeGreaterThan(MAX);
    const req = new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${WEB_KEY}`, "content-type": "application/json" },
      body: streamedBody(text),
      // @ts-expect-error: see above
      duplex: "half",
    });
    await expectOpenAIError(await gw.fetch(req), 413);
    expect(await up.calls()).toBe(0);
  });
});

describe("client authentication", () => {
  it("refuses a request without a client key (401)", async () => {
    const { up, model, gw } = setup();
    const res = await gw.fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chatBody(model)),
    });
    await expectOpenAIError(res, 401, { type: "authentication_error" });
    expect(await up.calls()).toBe(0);
  });

  it.each([
    ["a wrong key", "Bearer gk-web-1112"],
    ["a key's prefix", `Bearer ${WEB_KEY.slice(0, -1)}`],
    ["a non-bearer scheme", `Basic ${WEB_KEY}`],
    ["an empty bearer", "Bearer "],
  ])("refuses %s (401)", async (_, authorization) => {
    const { up, model, gw } = setup();
    const res = await chat(gw, chatBody(model), { authorization });
    await expectOpenAIError(res, 401, { type: "authentication_error" });
    expect(await up.calls()).toBe(0);
  });

  it("refuses a missing key on GET /v1/models too (401)", async () => {
    const { gw } = setup();
    await expectOpenAIError(await gw.fetch("/v1/models"), 401, { type: "authentication_error" });
  });

  it("accepts every configured client key (web and ios)", async () => {
    const { up, model, gw } = setup();
    for (const key of [WEB_KEY, IOS_KEY]) {
      const res = await chat(gw, chatBody(model), { authorization: `Bearer ${key}` });
      expect(res.status).toBe(200);
      await res.body?.cancel();
    }
    expect(await up.calls()).toBe(2);
    await gw.settle();
  });
});

describe("routes and methods", () => {
  it.each([
    ["GET", "/v1/chat/completions", "POST"],
    ["PUT", "/v1/chat/completions", "POST"],
    ["DELETE", "/v1/chat/completions", "POST"],
    ["POST", "/v1/models", "GET"],
    ["POST", "/healthz", "GET"],
  ])("answers %s %s with 405", async (method, path, allow) => {
    const { up, gw } = setup();
    const res = await gw.fetch(path, { method, headers: { authorization: `Bearer ${WEB_KEY}` } });
    const allowHeader = res.headers.get("allow");
    await expectOpenAIError(res, 405);
    expect(allowHeader ?? "").toContain(allow);
    expect(await up.calls()).toBe(0);
  });

  it.each([["/v1/completions"], ["/v1/chat/completion"], ["/nope"], ["/"]])(
    "answers an unknown route %s with 404",
    async (path) => {
      const { up, gw } = setup();
      const res = await gw.fetch(path, { method: "POST", headers: { authorization: `Bearer ${WEB_KEY}` }, body: "{}" });
      await expectOpenAIError(res, 404);
      expect(await up.calls()).toBe(0);
    },
  );
});

describe("an invalid configuration fails every request with a 500 that names the field", () => {
  it.each([
    ["a key listed twice", "web:k1,web2:k1", /CLIENT_KEYS\[1\]/],
    ["tenant `public`", "public:k1", /CLIENT_KEYS\[0\]/],
    ["a tenant with bad characters", "we b!:k1", /CLIENT_KEYS\[0\]/],
    ["a tenant name over 64 characters", `${"t".repeat(65)}:k1`, /CLIENT_KEYS\[0\]/],
    ["an entry without a colon", "web:k1,justakey", /CLIENT_KEYS\[1\]/],
  ])("CLIENT_KEYS with %s", async (_, CLIENT_KEYS, path) => {
    const { up, model, gw } = setup({ CLIENT_KEYS });
    const res = await chat(gw, chatBody(model), { authorization: "Bearer k1" });
    await expectOpenAIError(res, 500, { type: "server_error", message: path });
    expect(await up.calls()).toBe(0);
  });

  it("CLIENT_KEYS: whitespace is trimmed, empty entries ignored, a tenant may have several keys", async () => {
    const { up, model, gw } = setup({ CLIENT_KEYS: " web : k1 ,, web:k2 , " });
    for (const key of ["k1", "k2"]) {
      const res = await chat(gw, chatBody(model), { authorization: `Bearer ${key}` });
      expect(res.status, await res.clone().text()).toBe(200);
      await res.body?.cancel();
    }
    await expectOpenAIError(await chat(gw, chatBody(model), { authorization: `Bearer ${WEB_KEY}` }), 401);
    expect(await up.calls()).toBe(2);
    await gw.settle();
  });

  it.each([
    ["breaker.failureThreshold 0", { breaker: { failureThreshold: 0 } }, /GATEWAY_CONFIG\.breaker\.failureThreshold/],
    ["an unknown top-level key", { bogusSetting: true }, /GATEWAY_CONFIG\.bogusSetting/],
    ["an unknown nested key", { timeouts: { requestMS: 5 } }, /GATEWAY_CONFIG\.timeouts\.requestMS/],
    ["cache.ttlSeconds 30", { cache: { ttlSeconds: 30 } }, /GATEWAY_CONFIG\.cache\.ttlSeconds/],
    ["a negative timeout", { timeouts: { requestMs: -1 } }, /GATEWAY_CONFIG\.timeouts\.requestMs/],
    ["a string where a number goes", { retry: { maxRetries: "1" } }, /GATEWAY_CONFIG\.retry\.maxRetries/],
  ])("GATEWAY_CONFIG with %s", async (_, config, path) => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: {} }, ...config } });
    const res = await chat(gw, chatBody(model));
    await expectOpenAIError(res, 500, { type: "server_error", message: path });
    expect(await up.calls()).toBe(0);
  });

  it("GATEWAY_CONFIG with a fallback naming an unconfigured model", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: { fallbacks: ["not-configured"] } } } });
    const res = await chat(gw, chatBody(model));
    const err = await expectOpenAIError(res, 500, { type: "server_error" });
    expect(err.message).toContain(`GATEWAY_CONFIG.models.${model}.fallbacks[0]`);
    expect(await up.calls()).toBe(0);
  });

  it("GATEWAY_CONFIG that is not JSON", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { GATEWAY_CONFIG: "{models:" });
    await expectOpenAIError(await chat(gw, chatBody(model)), 500, { type: "server_error", message: /GATEWAY_CONFIG/ });
    expect(await up.calls()).toBe(0);
  });

  it("a missing HOLYSHEEP_API_KEY outside dev mode", async () => {
    const { up, model, gw } = setup({ HOLYSHEEP_API_KEY: "" });
    await expectOpenAIError(await chat(gw, chatBody(model)), 500, { type: "server_error", message: /HOLYSHEEP_API_KEY/ });
    expect(await up.calls()).toBe(0);
  });

  it("logs an invalid configuration once, not once per request", async () => {
    const spy = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const up = new Upstream();
      const model = uniqueModel();
      const gw = gateway(up, { config: { models: { [model]: { fallbacks: ["missing-model"] } } } });
      for (let i = 0; i < 3; i++) expect((await chat(gw, chatBody(model))).status).toBe(500);
      const lines = spy.mock.calls.map((c) => c.map(String).join(" ")).filter((l) => l.includes(model));
      expect(lines).toHaveLength(1);
    } finally {
      spy.mockRestore();
    }
  });

  it("fails /v1/models and /healthz too (never silently falls back to defaults)", async () => {
    const { gw } = setup({ CLIENT_KEYS: "public:k1" });
    await expectOpenAIError(await gw.fetch("/v1/models", { headers: { authorization: "Bearer k1" } }), 500, {
      message: /CLIENT_KEYS/,
    });
    await expectOpenAIError(await gw.fetch("/healthz"), 500, { message: /CLIENT_KEYS/ });
  });
});

describe("every message shape OpenAI publishes is accepted and forwarded untouched", () => {
  const messages = [
    { role: "system", content: "You are terse." },
    {
      role: "system",
      content: [
        { type: "text", text: "Part one." },
        { type: "text", text: "Part two." },
      ],
    },
    { role: "developer", content: "Follow the rules.", name: "dev1" },
    { role: "developer", content: [{ type: "text", text: "Array developer." }] },
    {
      role: "user",
      name: "alice",
      content: [
        { type: "text", text: "Look at this" },
        { type: "image_url", image_url: { url: "https://example.com/cat.png", detail: "low" } },
        { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
        { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } },
        { type: "file", file: { file_id: "file-abc123" } },
        { type: "file", file: { filename: "a.pdf", file_data: "data:application/pdf;base64,JVBERi0=" } },
      ],
    },
    {
      role: "assistant",
      content: null,
      tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
    },
    { role: "tool", tool_call_id: "call_1", content: "sunny" },
    { role: "tool", tool_call_id: "call_2", content: [{ type: "text", text: "also sunny" }] },
    { role: "assistant", content: null, function_call: { name: "legacy_fn", arguments: "{}" } },
    { role: "function", name: "legacy_fn", content: "legacy result" },
    { role: "assistant", content: "Plain answer.", refusal: null, audio: null },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Array answer." },
        { type: "refusal", refusal: "No." },
      ],
    },
    { role: "user", content: "and now?" },
  ];
  const extra = {
    max_completion_tokens: 64,
    max_tokens: null,
    temperature: 0.7,
    top_p: 1,
    n: 1,
    presence_penalty: 0,
    frequency_penalty: 0,
    seed: 42,
    stop: ["\n\n"],
    logit_bias: { "50256": -100 },
    logprobs: false,
    user: "user-123",
    response_format: { type: "json_object" },
    tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: {} } } }],
    tool_choice: "none",
    parallel_tool_calls: false,
    metadata: { a: "b" },
    store: false,
    reasoning_effort: "low",
    foo_bar: { x: 1 },
  };

  it("non-streaming: the upstream receives the body as sent, asked for a stream with usage (DESIGN §12)", async () => {
    const { up, model, gw } = setup();
    const body = { model, messages, ...extra };
    const res = await chat(gw, body);
    expect(res.status, await res.clone().text()).toBe(200);
    const answer = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(answer.choices[0]?.message.content).toBe(`Hello from ${model}. You said: and now?`);
    const { requests } = await up.stats();
    expect(requests).toHaveLength(1);
    expect(requests[0]?.body).toEqual({ ...body, stream: true, stream_options: { include_usage: true } });
    await gw.settle();
  });

  it('non-streaming with upstreamStreaming "as_requested": the upstream receives the body exactly as sent', async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: { upstreamStreaming: "as_requested" } } } });
    const body = { model, messages, ...extra };
    const res = await chat(gw, body);
    expect(res.status, await res.clone().text()).toBe(200);
    const { requests } = await up.stats();
    expect(requests.map((r) => r.body)).toEqual([body]);
    await gw.settle();
  });

  it("streaming: the upstream receives the body as sent, plus include_usage", async () => {
    const { up, model, gw } = setup();
    const body = { model, messages, stream: true, ...extra };
    const res = await chat(gw, body);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("data: [DONE]");
    const { requests } = await up.stats();
    expect(requests).toHaveLength(1);
    expect(requests[0]?.body).toEqual({ ...body, stream_options: { include_usage: true } });
    await gw.settle();
  });

  it("an unknown extra field reaches the upstream unchanged", async () => {
    const { up, model, gw } = setup();
    const res = await chat(gw, chatBody(model, { foo_bar: { x: 1 }, zeta: [1, "two", null, { deep: { deeper: true } }] }));
    expect(res.status).toBe(200);
    await res.body?.cancel();
    const [sent] = (await up.stats()).requests;
    expect(sent?.body.foo_bar).toEqual({ x: 1 });
    expect(sent?.body.zeta).toEqual([1, "two", null, { deep: { deeper: true } }]);
    await gw.settle();
  });

  it("unknown fields inside a message and a content part are kept too", async () => {
    const { up, model, gw } = setup();
    const msgs = [{ role: "user", content: [{ type: "text", text: "hi", cache_control: { type: "ephemeral" } }], custom: 1 }];
    const res = await chat(gw, { model, messages: msgs });
    expect(res.status).toBe(200);
    await res.body?.cancel();
    const [sent] = (await up.stats()).requests;
    expect(sent?.body.messages).toEqual(msgs);
    await gw.settle();
  });
});

describe("x-request-id", () => {
  const id = (res: Response) => res.headers.get("x-request-id");

  it.each([["abc"], ["req_123.ABC-xyz"], ["a".repeat(128)], ["0"]])("echoes a valid id: %s", async (given) => {
    const { model, gw } = setup();
    const res = await chat(gw, chatBody(model), { "x-request-id": given });
    expect(res.status).toBe(200);
    expect(id(res)).toBe(given);
    await res.body?.cancel();
    await gw.settle();
  });

  it.each([["has space"], ["a".repeat(129)], ["semi;colon"], ["a+b"], ["<script>"], ["a/b"]])(
    "replaces an invalid id: %s",
    async (given) => {
      const { model, gw } = setup();
      const res = await chat(gw, chatBody(model), { "x-request-id": given });
      expect(res.status).toBe(200);
      expect(id(res)).not.toBe(given);
      expect(id(res)).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
      await res.body?.cancel();
      await gw.settle();
    },
  );

  it("mints one when none is given, different per request", async () => {
    const { model, gw } = setup();
    const a = await chat(gw, chatBody(model));
    const b = await chat(gw, chatBody(model));
    expect(id(a)).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
    expect(id(b)).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
    expect(id(a)).not.toBe(id(b));
    await a.body?.cancel();
    await b.body?.cancel();
    await gw.settle();
  });

  it("is echoed or replaced on error responses too (400, 401, 404, 405, 413, 500)", async () => {
    const { model, gw } = setup({}, { limits: { maxBodyBytes: 500 } });
    const cases: Response[] = [
      await chat(gw, "{bad", { "x-request-id": "err-400" }),
      await chat(gw, chatBody(model), { "x-request-id": "err-401", authorization: "Bearer wrong" }),
      await chat(gw, chatBody(uniqueModel()), { "x-request-id": "err-404" }),
      await gw.fetch("/v1/chat/completions", { headers: { authorization: `Bearer ${WEB_KEY}`, "x-request-id": "err-405" } }),
      await chat(gw, chatBody(model, { pad: "x".repeat(1000) }), { "x-request-id": "err-413" }),
    ];
    expect(cases.map((r) => r.status)).toEqual([400, 401, 404, 405, 413]);
    expect(cases.map(id)).toEqual(["err-400", "err-401", "err-404", "err-405", "err-413"]);
    const bad = await chat(gw, "{bad", { "x-request-id": "bad id" });
    expect(bad.status).toBe(400);
    expect(id(bad)).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
    const broken = setup({ CLIENT_KEYS: "public:k" });
    const cfg = await chat(broken.gw, chatBody(broken.model), { "x-request-id": "err-500" });
    expect(cfg.status).toBe(500);
    expect(id(cfg)).toBe("err-500");
  });
});

describe("caller bounds headers", () => {
  it.each([["sometimes"], ["ALL,none"], [""], ["1"]])("refuses x-gateway-fallback: %j (400)", async (value) => {
    const { up, model, gw } = setup();
    const res = await chat(gw, chatBody(model), { "x-gateway-fallback": value });
    await expectOpenAIError(res, 400, { type: "invalid_request_error", param: "x-gateway-fallback" });
    expect(await up.calls()).toBe(0);
  });

  it.each([["-5"], ["abc"], ["1.5"], [""], ["10s"]])("refuses x-gateway-max-stale: %j (400)", async (value) => {
    const { up, model, gw } = setup();
    const res = await chat(gw, chatBody(model), { "x-gateway-max-stale": value });
    await expectOpenAIError(res, 400, { type: "invalid_request_error", param: "x-gateway-max-stale" });
    expect(await up.calls()).toBe(0);
  });

  it.each([
    ["x-gateway-fallback", "all"],
    ["x-gateway-fallback", "none"],
    ["x-gateway-fallback", "cache"],
    ["x-gateway-fallback", "models"],
    ["x-gateway-max-stale", "0"],
    ["x-gateway-max-stale", "3600"],
  ])("accepts %s: %s", async (name, value) => {
    const { up, model, gw } = setup();
    const res = await chat(gw, chatBody(model), { [name]: value });
    expect(res.status).toBe(200);
    await res.body?.cancel();
    expect(await up.calls()).toBe(1);
    await gw.settle();
  });
});
