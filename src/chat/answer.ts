import type { CachedAnswer } from "../core/cache";
import type { ChatRequest } from "../core/chat-request";
import type { CircuitState } from "../core/circuit";
import { GatewayError, renderError } from "../core/errors";
import type { ChainAnswer } from "./chain";
import { replayAsStream } from "./replay";

/** The headers every chat answer carries (DESIGN §6). */
interface AnswerHeaders {
  model: string;
  source: "upstream" | "cache";
  circuit: CircuitState;
  cacheAgeSeconds?: number;
}

function answerResponse(body: BodyInit, contentType: string, h: AnswerHeaders): Response {
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

/** A cached answer in the form the caller asked for: JSON, or replayed as a stream. */
function cachedAnswerResponse(hit: CachedAnswer, request: ChatRequest, circuit: CircuitState): Response {
  const cacheAgeSeconds = Math.floor(Math.max(0, Date.now() - hit.producedAt) / 1000);
  const headers = { model: hit.model, source: "cache" as const, circuit, cacheAgeSeconds };
  if (request.stream === true) {
    const includeUsage = request.stream_options?.include_usage === true;
    return answerResponse(replayAsStream(hit.answer, includeUsage), "text/event-stream; charset=utf-8", headers);
  }
  return answerResponse(JSON.stringify(hit.answer), "application/json", headers);
}

/** Nobody reads it: the client already went away. */
const CLIENT_GONE = new GatewayError(499, "invalid_request_error", "client_closed_request", "The client went away.");

/** The one place a chain's answer becomes an HTTP response. */
export function respond(answer: ChainAnswer, request: ChatRequest, requested: string): Response {
  switch (answer.kind) {
    case "upstream":
      return answerResponse(answer.body, answer.contentType, {
        model: answer.model,
        source: "upstream",
        circuit: answer.circuit,
      });
    case "cache":
      return cachedAnswerResponse(answer.hit, request, answer.circuit);
    case "error":
      return renderError(answer.error.withHeaders({ "x-gateway-model": requested, "x-gateway-circuit": answer.circuit }));
    case "client_gone":
      return renderError(CLIENT_GONE);
  }
}
