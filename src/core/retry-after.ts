/**
 * The one Retry-After parser and formatter of the gateway (DESIGN §6). Incoming: `retry-after-ms`
 * wins; `Retry-After` is seconds (decimals allowed) or an HTTP date; negative values and past
 * dates mean "now". Outgoing: integer seconds ≥ 1, rounded up, with `retry-after-ms` beside it.
 */
const NUMBER = /^\s*-?\d+(\.\d+)?\s*$/;

export function parseRetryAfter(headers: Headers, now: number): number | null {
  const ms = headers.get("retry-after-ms");
  if (ms !== null && NUMBER.test(ms)) return Math.max(0, Math.ceil(Number(ms)));
  const value = headers.get("retry-after");
  if (value === null) return null;
  if (NUMBER.test(value)) return Math.max(0, Math.ceil(Number(value) * 1000));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

export function retryAfterHeaders(delayMs: number): Record<string, string> {
  const ms = Math.max(0, Math.ceil(delayMs));
  return { "retry-after": String(Math.max(1, Math.ceil(ms / 1000))), "retry-after-ms": String(ms) };
}
