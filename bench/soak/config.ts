// What the soak runs: its size, and the gateway configuration it runs against. Timeouts and the
// breaker are short so that a run of seconds sees circuits open, probe and close many times.

export const short = process.argv.includes("--short");
/** Requests to send, the least that counts as a soak, and the cap on the load phase. */
export const PLAN = short
  ? { requests: 4_000, minimum: 1_000, seconds: 40, phaseMs: 1_000 }
  : { requests: 24_000, minimum: 20_000, seconds: 240, phaseMs: 2_500 };
export const CONCURRENCY = 16;
export const TOKEN = "soak-admin-token";
export const KEY = "sk-soak-dummy";

export const TIMEOUTS = { requestMs: 500, deadlineMs: 1500, streamIdleMs: 500, streamTotalMs: 3000 };
export const HALF_OPEN_MAX = 3;
export const GATEWAY_CONFIG = {
  breaker: { failureThreshold: 5, successThreshold: 2, openTimeoutMs: 1000, halfOpenMaxCalls: HALF_OPEN_MAX },
  models: {
    "gpt-4.1": { fallbacks: ["deepseek-v3.2"], priceUsdPerMTok: 8.0 },
    "claude-sonnet-4.5": { fallbacks: ["gpt-4.1", "deepseek-v3.2"], priceUsdPerMTok: 15.0, breaker: { failureThreshold: 3 } },
    "gemini-2.5-flash": { fallbacks: ["deepseek-v3.2"], priceUsdPerMTok: 2.5 },
    "deepseek-v3.2": { fallbacks: [], priceUsdPerMTok: 0.42 },
  },
  timeouts: TIMEOUTS,
  retry: { maxRetries: 1, maxAttempts: 4, baseDelayMs: 50, maxDelayMs: 2000 },
  // Limits stay on but out of reach: the soak is about the upstream flapping.
  tenants: { default: { requestsPerMinute: 1_000_000_000 }, ip: { requestsPerMinute: 1_000_000_000 } },
  snapshotTtlMs: 250,
};
export const MODELS = Object.keys(GATEWAY_CONFIG.models);
/** Past the deadline, how late an answer (or a stream's first byte) may be. */
export const GRACE_MS = 1000;
