import { describe, expect, it } from "vitest";
import { chat, chatBody, gateway, sseData, Upstream, uniqueModel } from "./support/harness";

describe("the request path", () => {
  it("answers a non-streaming chat with the upstream's completion and the gateway headers", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: {} } } });
    const res = await chat(gw, chatBody(model));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { object: string; choices: { message: { content: string } }[] };
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0]?.message.content).toBe(`Hello from ${model}. You said: hi there`);
    expect(res.headers.get("x-gateway-model")).toBe(model);
    expect(res.headers.get("x-gateway-source")).toBe("upstream");
    expect(res.headers.get("x-gateway-circuit")).toBe("closed");
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    await gw.settle();
  });

  it("relays a stream event by event, ending in [DONE], without the usage chunk it did not ask for", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: {} } } });
    const res = await chat(gw, chatBody(model, { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = sseData(await res.text());
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    expect(chunks.some((c) => c.choices.length === 0)).toBe(false);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
    expect(text).toBe(`Hello from ${model}. You said: hi there`);
    const [sent] = (await up.stats()).requests;
    expect(sent?.body.stream_options).toEqual({ include_usage: true });
    await gw.settle();
  });

  it("keeps the usage chunk when the client asked for it", async () => {
    const up = new Upstream();
    const model = uniqueModel();
    const gw = gateway(up, { config: { models: { [model]: {} } } });
    const res = await chat(gw, chatBody(model, { stream: true, stream_options: { include_usage: true } }));
    const chunks = sseData(await res.text())
      .slice(0, -1)
      .map((e) => JSON.parse(e));
    const usage = chunks.find((c) => c.choices.length === 0);
    expect(usage?.usage.completion_tokens).toBeGreaterThan(0);
    await gw.settle();
  });
});
