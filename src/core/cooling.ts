/**
 * The 429 cool-down policy (DESIGN §3), written once: the breaker's machine, the isolate's local
 * guess before the breaker answers, and the chain's Retry-After all read it.
 */
export const FIRST_COOLING_MS = 1000;

/**
 * How long a model cools after a 429: the upstream's Retry-After when it gave one, else
 * exponentially from FIRST_COOLING_MS by how many 429s came without one; never over `capMs`.
 */
export function coolingDelayMs(retryAfterMs: number | null, exponent: number, capMs: number): number {
  const delayMs = retryAfterMs === null ? FIRST_COOLING_MS * 2 ** exponent : Math.max(0, retryAfterMs);
  return Math.min(delayMs, capMs);
}
