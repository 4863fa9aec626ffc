import { describe, expect, it } from "vitest";
import { resolveConfig } from "../config/resolve";
import { spendUsd } from "./request-metrics";

const resolved = resolveConfig({ models: { m: { priceUsdPerMTok: { input: 2, output: 8 } } } });
const model = resolved.ok ? resolved.config.models.get("m") : undefined;
if (!model) throw new Error("the test model did not resolve");

describe("spendUsd", () => {
  it("prices prompt and completion tokens at the model's prices per million", () => {
    expect(spendUsd(model, { prompt_tokens: 1_000_000, completion_tokens: 500_000 })).toBe(6);
  });

  it("is never NaN, infinite or negative, whatever usage it is handed", () => {
    for (const n of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -10]) {
      expect(spendUsd(model, { prompt_tokens: n, completion_tokens: 1 })).toBe(0);
      expect(spendUsd(model, { prompt_tokens: 1, completion_tokens: n })).toBe(0);
    }
  });
});
