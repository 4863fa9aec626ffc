import { describe, expect, it } from "vitest";
import { type ModelConfig, resolveConfig } from "../config/resolve";
import type { ChatRequest } from "../core/chat-request";
import { attemptUsd, completionCeiling, promptTokens, reservationUsd } from "./cost";

function models(input: Record<string, unknown>): Map<string, ModelConfig> {
  const resolved = resolveConfig({ models: input });
  if (!resolved.ok) throw new Error(resolved.problem.path);
  return new Map(resolved.config.models);
}

function model(map: Map<string, ModelConfig>, name: string): ModelConfig {
  const m = map.get(name);
  if (!m) throw new Error(name);
  return m;
}

const ask = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: "a",
  messages: [{ role: "user", content: "hi there" }],
  ...extra,
});

describe("promptTokens: the messages' UTF-8 bytes / 3, rounded up", () => {
  it("counts string content, text parts, refusals and tool calls", () => {
    expect(promptTokens(ask())).toBe(3); // 8 bytes
    expect(
      promptTokens(
        ask({
          messages: [
            { role: "system", content: [{ type: "text", text: "abc" }] },
            { role: "assistant", content: [{ type: "refusal", refusal: "no" }] },
            {
              role: "assistant",
              content: null,
              tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{}" } }],
            },
            { role: "user", content: [{ type: "image_url", image_url: { url: "https://x" } }] },
          ],
        }),
      ),
    ).toBe(Math.ceil((3 + 2 + 1 + 2) / 3));
  });

  it("counts bytes, not characters", () => {
    expect(promptTokens(ask({ messages: [{ role: "user", content: "日本語" }] }))).toBe(3); // 9 bytes
    expect(promptTokens(ask({ messages: [{ role: "user", content: "" }] }))).toBe(0);
  });
});

describe("completionCeiling", () => {
  const m = models({ a: { maxOutputTokens: 2000 }, b: {} });
  it("is max_completion_tokens, else max_tokens, else the tenant's maxTokens, else the model's maxOutputTokens", () => {
    expect(completionCeiling(ask({ max_completion_tokens: 5, max_tokens: 7 }), 9, model(m, "a"))).toBe(5);
    expect(completionCeiling(ask({ max_tokens: 7 }), 9, model(m, "a"))).toBe(7);
    expect(completionCeiling(ask(), 9, model(m, "a"))).toBe(9);
    expect(completionCeiling(ask(), null, model(m, "a"))).toBe(2000);
    expect(completionCeiling(ask(), null, model(m, "b"))).toBe(4096);
  });
});

describe("reservationUsd: the request's upper cost", () => {
  const m = models({
    dear: { priceUsdPerMTok: { input: 1, output: 10 }, maxOutputTokens: 100 },
    cheap: { priceUsdPerMTok: { input: 2, output: 2 }, maxOutputTokens: 1000 },
  });
  it("prices prompt at input and n × ceiling at output, at the dearest model of the chain", () => {
    const request = ask({ n: 2 });
    // dear: 3 × 1 + 200 × 10 = 2003; cheap: 3 × 2 + 2000 × 2 = 4006 (its ceiling is larger).
    expect(reservationUsd(request, [model(m, "dear"), model(m, "cheap")], null)).toBeCloseTo(4006 / 1e6, 15);
    expect(reservationUsd(request, [model(m, "dear")], null)).toBeCloseTo(2003 / 1e6, 15);
    expect(reservationUsd(ask({ max_tokens: 10 }), [model(m, "dear"), model(m, "cheap")], null)).toBeCloseTo(103 / 1e6, 15);
  });

  it("is nothing for a chain of free models", () => {
    expect(reservationUsd(ask(), [...models({ free: {} }).values()], null)).toBe(0);
  });
});

describe("attemptUsd: what one attempt cost", () => {
  const m = model(models({ a: { priceUsdPerMTok: { input: 1, output: 10 } } }), "a");
  it("is its usage when one came", () => {
    expect(attemptUsd(m, 3, { prompt_tokens: 100, completion_tokens: 10 }, 999)).toBeCloseTo(200 / 1e6, 15);
  });

  it("is otherwise the prompt estimate and the completion characters that passed / 4", () => {
    expect(attemptUsd(m, 3, null, 0)).toBeCloseTo(3 / 1e6, 15);
    expect(attemptUsd(m, 3, null, 9)).toBeCloseTo((3 + 3 * 10) / 1e6, 15);
  });
});
