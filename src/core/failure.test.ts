import { describe, expect, it } from "vitest";
import { classifyStatus, type FailureKind, failure, outcomeOf } from "./failure";

const error = (code: string | null, message: string) => ({ message, type: "invalid_request_error", code, param: null });

describe("DESIGN §12's status table, in one function", () => {
  it.each([
    [200, "success"],
    [204, "success"],
    [400, "client_error"],
    [404, "client_error"],
    [413, "client_error"],
    [422, "client_error"],
    [401, "auth"],
    [403, "auth"],
    [402, "account"],
    [408, "server_error"],
    [425, "server_error"],
    [500, "server_error"],
    [503, "server_error"],
    [599, "server_error"],
    [302, "server_error"],
    [429, "rate_limited"],
    [405, "rejected"],
    [409, "rejected"],
    [410, "rejected"],
    [418, "rejected"],
    [451, "rejected"],
  ])("%i is %s", (status, cls) => {
    expect(classifyStatus(status)).toBe(cls);
  });

  it("a 400 over the context length is a context overflow, by its code or its wording", () => {
    expect(classifyStatus(400, error("context_length_exceeded", "Too long."))).toBe("context_overflow");
    for (const message of [
      "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
      "Context length exceeded: 130000 > 128000.",
      "The input exceeds the model's context window.",
      "context_length_exceeded",
    ]) {
      expect(classifyStatus(400, error(null, message)), message).toBe("context_overflow");
    }
  });

  it("other 400s, and other statuses saying so, are not", () => {
    expect(classifyStatus(400, error("content_filter", "The response was filtered due to the prompt."))).toBe("client_error");
    expect(classifyStatus(400, error(null, "max_tokens is too large: 100000."))).toBe("client_error");
    expect(classifyStatus(422, error("context_length_exceeded", "Too long."))).toBe("client_error");
    expect(classifyStatus(500, error("context_length_exceeded", "Too long."))).toBe("server_error");
  });
});

describe("what each failure tells the breaker", () => {
  const cases: [FailureKind, string][] = [
    ["server_error", "failure"],
    ["connection", "failure"],
    ["timeout", "failure"],
    ["malformed", "failure"],
    ["rate_limited", "rate_limited"],
    ["client_error", "ignored"],
    ["context_overflow", "ignored"],
    ["auth", "ignored"],
    ["account", "ignored"],
    ["rejected", "ignored"],
    ["client_abort", "client_abort"],
  ];
  it.each(cases)("%s → %s", (kind, outcome) => {
    expect(outcomeOf(failure(kind, kind)).kind).toBe(outcome);
  });

  it("a failure names its kind, a 429 carries its Retry-After", () => {
    expect(outcomeOf(failure("timeout", "t"))).toEqual({ kind: "failure", reason: "timeout" });
    expect(outcomeOf(failure("rate_limited", "429", { retryAfterMs: 1500 }))).toEqual({
      kind: "rate_limited",
      retryAfterMs: 1500,
    });
  });
});
