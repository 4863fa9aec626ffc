import OpenAI from "openai";
import { afterEach, describe, expect, inject, it } from "vitest";

const url = inject("gatewayUrl");
const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${inject("adminToken")}`, "content-type": "application/json" },
  });

const client = new OpenAI({ apiKey: "anonymous-in-dev-mode", baseURL: `${url}/v1`, maxRetries: 0 });

afterEach(async () => {
  await admin("/admin/demo/faults", { method: "DELETE" });
});

describe("the official OpenAI SDK against `npm run dev` over HTTP", () => {
  it("gets a completion", async () => {
    const completion = await client.chat.completions.create({
      model: "gpt-4.1",
      messages: [{ role: "user", content: "hello over http" }],
    });
    expect(completion.choices[0]?.message.content).toBe("Hello from gpt-4.1. You said: hello over http");
  });

  it("gets a stream whose chunks arrive incrementally: the first before the upstream sent its last", async () => {
    const model = "gemini-2.5-flash";
    const delayMs = 150;
    const set = await admin("/admin/demo/faults", {
      method: "POST",
      body: JSON.stringify({ model, mode: "slow_chunks", delayMs }),
    });
    expect(set.status).toBe(200);
    const started = performance.now();
    const stream = await client.chat.completions.create(
      {
        model,
        stream: true,
        messages: [{ role: "user", content: `one two three four ${crypto.randomUUID()}` }],
      },
      { headers: { "x-gateway-fallback": "none" } },
    );
    const arrivals: number[] = [];
    let text = "";
    for await (const chunk of stream) {
      arrivals.push(performance.now() - started);
      text += chunk.choices[0]?.delta?.content ?? "";
    }
    expect(text).toMatch(/^Hello from gemini-2\.5-flash\. You said: one two three four /);
    // The simulated upstream waits delayMs between events: a buffered relay would deliver every
    // chunk at about the same moment, after the last one was sent.
    const first = arrivals[0] ?? 0;
    const last = arrivals.at(-1) ?? 0;
    expect(arrivals.length).toBeGreaterThan(5);
    expect(last - first).toBeGreaterThan(delayMs * (arrivals.length - 3));
  });

  it("lists the configured models", async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(["claude-sonnet-4.5", "deepseek-v3.2", "gemini-2.5-flash", "gpt-4.1"]);
  });
});
