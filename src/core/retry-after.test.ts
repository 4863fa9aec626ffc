import { describe, expect, it } from "vitest";
import { parseRetryAfter, retryAfterHeaders } from "./retry-after";

const NOW = Date.parse("2026-11-25T10:00:00Z");
const h = (init: Record<string, string>) => new Headers(init);

describe("parseRetryAfter", () => {
  it("reads seconds, with decimals", () => {
    expect(parseRetryAfter(h({ "retry-after": "2" }), NOW)).toBe(2000);
    expect(parseRetryAfter(h({ "retry-after": "1.25" }), NOW)).toBe(1250);
  });
  it("reads an HTTP date, a past one meaning now", () => {
    expect(parseRetryAfter(h({ "retry-after": "Wed, 25 Nov 2026 10:00:30 GMT" }), NOW)).toBe(30_000);
    expect(parseRetryAfter(h({ "retry-after": "Wed, 25 Nov 2026 09:00:00 GMT" }), NOW)).toBe(0);
  });
  it("lets retry-after-ms win, and reads negatives as now", () => {
    expect(parseRetryAfter(h({ "retry-after": "9", "retry-after-ms": "1500" }), NOW)).toBe(1500);
    expect(parseRetryAfter(h({ "retry-after": "-3" }), NOW)).toBe(0);
  });
  it("is null when absent or unreadable", () => {
    expect(parseRetryAfter(h({}), NOW)).toBeNull();
    expect(parseRetryAfter(h({ "retry-after": "soon" }), NOW)).toBeNull();
  });
});

describe("retryAfterHeaders", () => {
  it("gives whole seconds of at least 1, rounded up, with the milliseconds beside", () => {
    expect(retryAfterHeaders(1200)).toEqual({ "retry-after": "2", "retry-after-ms": "1200" });
    expect(retryAfterHeaders(0)).toEqual({ "retry-after": "1", "retry-after-ms": "0" });
    expect(retryAfterHeaders(-50)).toEqual({ "retry-after": "1", "retry-after-ms": "0" });
  });
});
