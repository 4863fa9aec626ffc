import type { CircuitState } from "../breaker/machine";

/** The headers every chat answer carries (DESIGN §6). */
export interface AnswerHeaders {
  model: string;
  source: "upstream" | "cache";
  circuit: CircuitState;
  cacheAgeSeconds?: number;
}

export function answerResponse(body: BodyInit, contentType: string, h: AnswerHeaders): Response {
  const headers = new Headers({
    "content-type": contentType,
    "x-gateway-model": h.model,
    "x-gateway-source": h.source,
    "x-gateway-circuit": h.circuit,
  });
  if (contentType.startsWith("text/event-stream")) headers.set("cache-control", "no-cache");
  if (h.cacheAgeSeconds !== undefined) headers.set("x-gateway-cache-age", String(h.cacheAgeSeconds));
  return new Response(body, { status: 200, headers });
}
