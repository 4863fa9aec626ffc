import { describe, expect, it } from "vitest";
import type { ChatCompletionChunk } from "../core/openai";
import { MAX_PREFILL_CHARS, RelayedText, Splicer } from "./splice";

const chunk = (delta: Record<string, unknown>, extra: Partial<ChatCompletionChunk> = {}): ChatCompletionChunk => ({
  id: "chatcmpl-second",
  object: "chat.completion.chunk",
  created: 2,
  model: "fallback",
  choices: [{ index: 0, delta, finish_reason: null }],
  ...extra,
});
const data = (text: string) =>
  text
    .split("\n\n")
    .filter((e) => e.startsWith("data: "))
    .map((e) => e.slice(6));

describe("RelayedText", () => {
  it("keeps choice 0's text and the first chunk's identity", () => {
    const r = new RelayedText();
    r.see(chunk({ role: "assistant", content: "" }, { id: "a", created: 1, model: "m" }));
    r.see(chunk({ content: "Hello " }));
    r.see(chunk({ content: "there" }));
    expect(r.text).toBe("Hello there");
    expect(r.first).toEqual({ id: "a", created: 1, model: "m" });
    expect(r.continuable).toBe(true);
  });

  it("gives up on tool calls, a second choice, and text past MAX_PREFILL_CHARS, keeping no copy", () => {
    const tools = new RelayedText();
    tools.see(chunk({ tool_calls: [{ index: 0, function: { arguments: "{" } }] }));
    expect(tools.continuable).toBe(false);
    const two = new RelayedText();
    two.see({ ...chunk({ content: "x" }), choices: [{ index: 1, delta: { content: "y" }, finish_reason: null }] });
    expect(two.continuable).toBe(false);
    const long = new RelayedText();
    long.see(chunk({ content: "x".repeat(MAX_PREFILL_CHARS) }));
    expect(long.continuable).toBe(true);
    long.see(chunk({ content: "y" }));
    expect(long).toMatchObject({ continuable: false, text: "" });
  });
});

describe("Splicer", () => {
  const first = { id: "chatcmpl-first", created: 1, model: "gpt", completionTokens: 3 };
  const marker = { continued: true as const, by: "fallback", provider: "holysheep", after: "cut" as const };

  it("drops the role delta, rewrites identity, holds the last chunk back and marks it at [DONE]", () => {
    const s = new Splicer(first, marker);
    expect(s.chunk(chunk({ role: "assistant", content: "" }))).toBe("");
    expect(s.chunk(chunk({ content: "rest" }))).toBe("");
    const out = data(s.chunk(chunk({}, { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })));
    expect(out.map((d) => JSON.parse(d))).toEqual([{ ...chunk({ content: "rest" }), id: first.id, created: 1, model: "gpt" }]);
    const end = data(new TextDecoder().decode(s.done("data: [DONE]\n\n")));
    expect(end.at(-1)).toBe("[DONE]");
    const last = JSON.parse(end[0] ?? "{}");
    expect(last).toMatchObject({ id: first.id, model: "gpt", x_gateway: marker });
    expect(last.choices[0].finish_reason).toBe("stop");
  });

  it("adds the first part's completion tokens to the continuation's usage", () => {
    const s = new Splicer(first, marker);
    s.chunk({ ...chunk({}), choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } });
    const [usage] = data(new TextDecoder().decode(s.done("data: [DONE]\n\n")))
      .filter((d) => d !== "[DONE]")
      .map((d) => JSON.parse(d));
    expect(usage.usage).toEqual({ prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 });
    expect(usage.x_gateway).toEqual(marker);
  });
});
