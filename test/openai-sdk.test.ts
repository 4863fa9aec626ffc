import type OpenAI from "openai";
import { APIError, AuthenticationError, NotFoundError } from "openai";
import type { ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import { describe, expect, it } from "vitest";
import { sdk } from "./support/chain";
import { gateway, Upstream, uniqueModel } from "./support/harness";

function setup(models: string[] = [uniqueModel()]) {
  const up = new Upstream();
  const gw = gateway(up, {
    config: {
      models: Object.fromEntries(models.map((m) => [m, {}])),
      retry: { maxRetries: 0 },
      timeouts: { requestMs: 1000, streamIdleMs: 1000, streamTotalMs: 5000, deadlineMs: 2000 },
    },
  });
  return { up, gw, model: models[0] as string, client: sdk(gw) };
}

const weatherTool: ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

describe("the official openai SDK (v6) against the gateway, inside workerd", () => {
  it("non-streaming completion", async () => {
    const { gw, model, client } = setup();
    const { data, response } = await client.chat.completions
      .create({ model, messages: [{ role: "user", content: "hi there" }] })
      .withResponse();
    expect(data.object).toBe("chat.completion");
    expect(data.choices[0]?.message.role).toBe("assistant");
    expect(data.choices[0]?.message.content).toBe(`Hello from ${model}. You said: hi there`);
    expect(data.choices[0]?.finish_reason).toBe("stop");
    expect(data.usage?.total_tokens).toBeGreaterThan(0);
    expect(response.headers.get("x-gateway-model")).toBe(model);
    expect(response.headers.get("x-gateway-source")).toBe("upstream");
    expect(response.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
    await gw.settle();
  });

  it("streaming: chunks assemble into the fake's answer", async () => {
    const { up, gw, model, client } = setup();
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "stream me" }],
      stream: true,
    });
    let text = "";
    let chunks = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe("chat.completion.chunk");
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(`Hello from ${model}. You said: stream me`);
    expect(chunks).toBeGreaterThan(3);
    expect(finish).toBe("stop");
    expect((await up.stats()).requests[0]?.stream).toBe(true);
    await gw.settle();
  });

  it("streaming with include_usage: the SDK sees the usage chunk", async () => {
    const { gw, model, client } = setup();
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "count me" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    await gw.settle();
  });

  it("a full tool-call round trip", async () => {
    const { up, gw, model, client } = setup();
    const messages: ChatCompletionMessageParam[] = [{ role: "user", content: "weather in Paris?" }];
    const first = await client.chat.completions.create({ model, messages, tools: [weatherTool] });
    const choice = first.choices[0];
    expect(choice?.finish_reason).toBe("tool_calls");
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type).toBe("function");
    if (call?.type !== "function") throw new Error("expected a function tool call");
    expect(call.id).toMatch(/^call_/);
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ echo: "weather in Paris?" });

    messages.push(choice!.message, { role: "tool", tool_call_id: call.id, content: "sunny, 21°C" });
    const second = await client.chat.completions.create({ model, messages, tools: [weatherTool] });
    expect(second.choices[0]?.message.content).toBe("Tool said: sunny, 21°C");
    expect(second.choices[0]?.finish_reason).toBe("stop");

    // The assistant message with tool_calls (content null) and the tool message reached the upstream as sent.
    const sent = (await up.stats()).requests[1]?.body as { messages: Record<string, unknown>[] };
    expect(sent.messages[1]).toMatchObject({ role: "assistant", content: null, tool_calls: [{ id: call.id, type: "function" }] });
    expect(sent.messages[2]).toEqual({ role: "tool", tool_call_id: call.id, content: "sunny, 21°C" });
    await gw.settle();
  });

  it("a streaming tool call, assembled from deltas", async () => {
    const { gw, model, client } = setup();
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "weather in Oslo?" }],
      tools: [weatherTool],
      stream: true,
    });
    const calls: { id: string; name: string; arguments: string }[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      finish = choice?.finish_reason ?? finish;
      for (const d of choice?.delta.tool_calls ?? []) {
        const c = (calls[d.index] ??= { id: "", name: "", arguments: "" });
        if (d.id) c.id = d.id;
        if (d.function?.name) c.name += d.function.name;
        if (d.function?.arguments) c.arguments += d.function.arguments;
      }
    }
    expect(finish).toBe("tool_calls");
    expect(calls).toHaveLength(1);
    expect(calls[0]?.id).toMatch(/^call_/);
    expect(calls[0]?.name).toBe("get_weather");
    expect(JSON.parse(calls[0]?.arguments ?? "")).toEqual({ echo: "weather in Oslo?" });
    await gw.settle();
  });

  it("the SDK's stream helper (runTools-style accumulation) gives the final tool call", async () => {
    const { gw, model, client } = setup();
    const runner = client.chat.completions.stream({
      model,
      messages: [{ role: "user", content: "weather in Rome?" }],
      tools: [weatherTool],
    });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0];
    expect(call?.type).toBe("function");
    if (call?.type !== "function") throw new Error("expected a function tool call");
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ echo: "weather in Rome?" });
    await gw.settle();
  });

  it("client.models.list() lists the configured models", async () => {
    const models = [uniqueModel(), uniqueModel("deepseek-v3.2"), uniqueModel("claude-sonnet-4.5")];
    const { gw, client } = setup(models);
    const ids: string[] = [];
    for await (const m of client.models.list()) {
      expect(m.object).toBe("model");
      ids.push(m.id);
    }
    expect(ids.sort()).toEqual([...models].sort());
    await gw.settle();
  });

  it("an unknown model surfaces as the SDK's NotFoundError (404)", async () => {
    const { up, gw, client } = setup();
    const err = await client.chat.completions
      .create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    const e = err as NotFoundError;
    expect(e.status).toBe(404);
    expect(e.code).toBe("model_not_found");
    expect(e.param).toBe("model");
    expect(e.type).toBe("invalid_request_error");
    expect(await up.calls()).toBe(0);
    await gw.settle();
  });

  it("a wrong client key surfaces as the SDK's AuthenticationError (401)", async () => {
    const { gw, model } = setup();
    const err = await sdk(gw, "gk-not-a-key")
      .chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).status).toBe(401);
    await gw.settle();
  });

  it("an upstream failure surfaces as an APIError 502 with the gateway's code", async () => {
    const { up, gw, model, client } = setup();
    await up.fault({ model, mode: "status", status: 503 });
    const err = await client.chat.completions
      .create({ model, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(502);
    expect((err as APIError).code).toBe("upstream_error");
    expect(await up.calls(model)).toBe(1);
    await gw.settle();
  });
});
