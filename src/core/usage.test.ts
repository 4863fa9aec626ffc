import { describe, expect, it } from "vitest";
import { choicesChars, normalizeUsage } from "./usage";

describe("normalizeUsage", () => {
  it("keeps OpenAI's usage as it is", () => {
    expect(normalizeUsage({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 })).toEqual({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
    });
  });

  it("reads input_tokens and output_tokens as prompt and completion", () => {
    expect(normalizeUsage({ input_tokens: 10, output_tokens: 5 })).toEqual({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
    });
    // OpenAI's own names win when both are there.
    expect(normalizeUsage({ prompt_tokens: 1, input_tokens: 10, completion_tokens: 2, output_tokens: 20 })).toMatchObject({
      prompt_tokens: 1,
      completion_tokens: 2,
    });
  });

  it("prices a lone total_tokens as completion tokens, the dearer side", () => {
    expect(normalizeUsage({ total_tokens: 10 })).toEqual({ prompt_tokens: 0, completion_tokens: 10, total_tokens: 10 });
  });

  it("fills the one missing side from total_tokens", () => {
    expect(normalizeUsage({ prompt_tokens: 4, total_tokens: 10 })).toEqual({
      prompt_tokens: 4,
      completion_tokens: 6,
      total_tokens: 10,
    });
    expect(normalizeUsage({ completion_tokens: 4, total_tokens: 10 })).toEqual({
      prompt_tokens: 6,
      completion_tokens: 4,
      total_tokens: 10,
    });
  });

  it("counts tokens a total reports beyond prompt + completion as completion (thinking tokens, say)", () => {
    expect(normalizeUsage({ prompt_tokens: 4, completion_tokens: 2, total_tokens: 10 })).toEqual({
      prompt_tokens: 4,
      completion_tokens: 6,
      total_tokens: 10,
    });
    // A total below the sum is wrong, not a refund.
    expect(normalizeUsage({ prompt_tokens: 4, completion_tokens: 2, total_tokens: 1 })).toEqual({
      prompt_tokens: 4,
      completion_tokens: 2,
      total_tokens: 6,
    });
  });

  it("treats a missing, negative, non-numeric or non-finite field as absent", () => {
    expect(normalizeUsage({ prompt_tokens: -5, completion_tokens: 3 })).toEqual({
      prompt_tokens: 0,
      completion_tokens: 3,
      total_tokens: 3,
    });
    expect(normalizeUsage({ prompt_tokens: "12", completion_tokens: 3 })).toMatchObject({ prompt_tokens: 0 });
    expect(normalizeUsage(JSON.parse('{"prompt_tokens": 1e400, "completion_tokens": 2}'))).toMatchObject({ prompt_tokens: 0 });
    expect(normalizeUsage({ prompt_tokens: 2 ** 60, completion_tokens: 2 })).toMatchObject({ prompt_tokens: 0 });
    expect(normalizeUsage({ prompt_tokens: Number.NaN, completion_tokens: null, total_tokens: 7 })).toEqual({
      prompt_tokens: 0,
      completion_tokens: 7,
      total_tokens: 7,
    });
  });

  it.each([
    [null],
    [undefined],
    ["usage"],
    [42],
    [[1, 2]],
    [{}],
    [{ prompt_tokens: "a", completion_tokens: "b" }],
    [{ total_tokens: -1 }],
  ])("has nothing to say for %j", (raw) => {
    expect(normalizeUsage(raw)).toBeNull();
  });

  it("never yields NaN, whatever it is given", () => {
    const odd = [null, undefined, -1, 0, 1.5, "7", Number.NaN, Number.POSITIVE_INFINITY, {}, [], true, 2 ** 60];
    for (const p of odd)
      for (const c of odd)
        for (const t of odd) {
          const u = normalizeUsage({ prompt_tokens: p, output_tokens: c, total_tokens: t });
          if (u === null) continue;
          for (const v of [u.prompt_tokens, u.completion_tokens, u.total_tokens]) {
            expect(Number.isFinite(v)).toBe(true);
            expect(v).toBeGreaterThanOrEqual(0);
          }
          expect(u.total_tokens).toBe(u.prompt_tokens + u.completion_tokens);
        }
  });

  it("keeps the token details that are sane and drops the rest", () => {
    const u = normalizeUsage({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      prompt_tokens_details: { cached_tokens: 4, audio_tokens: "x" },
      completion_tokens_details: { reasoning_tokens: 2, accepted_prediction_tokens: -1 },
    });
    expect(u).toEqual({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      prompt_tokens_details: { cached_tokens: 4 },
      completion_tokens_details: { reasoning_tokens: 2 },
    });
    for (const details of [null, "x", [3], { cached_tokens: "4" }]) {
      expect(normalizeUsage({ prompt_tokens: 1, completion_tokens: 1, prompt_tokens_details: details })).not.toHaveProperty(
        "prompt_tokens_details",
      );
    }
  });
});

describe("choicesChars: the completion text that passed", () => {
  it("counts content, refusal and tool-call arguments of every choice", () => {
    const choices = [
      { index: 0, delta: { role: "assistant", content: "Hello" } },
      { index: 1, delta: { refusal: "no" } },
      { index: 2, delta: { tool_calls: [{ index: 0, function: { name: "lookup", arguments: '{"a":' } }] } },
    ];
    expect(choicesChars(choices, "delta")).toBe(5 + 2 + 5);
    expect(choicesChars([{ message: { content: "Hi", tool_calls: [{ function: { arguments: "{}" } }] } }], "message")).toBe(4);
  });

  it("counts nothing that is not text", () => {
    expect(choicesChars(null, "delta")).toBe(0);
    expect(choicesChars([null, 3, { delta: { content: 7, tool_calls: [null, { function: "x" }] } }], "delta")).toBe(0);
  });
});
