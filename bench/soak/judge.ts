// Judging one answer of the soak against the gateway's contract: a chat.completion, a stream that
// ends in [DONE] or an error event, or an OpenAI-shaped error with one of the contract's statuses.
import type { Timed } from "../lib/http";

const CONTRACT_STATUSES = new Set([400, 404, 429, 502, 503, 504]);

export interface Outcome {
  requested: string;
  stream: boolean;
  status: number;
  /** json | done | error_event | error:<code> | malformed */
  kind: string;
  source: string;
  servedBy: string;
  ms: number;
  /** For a 200 stream: time to first byte. */
  firstByteMs: number;
  problem: string | null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The `data:` payloads of an SSE body, or null if some event is not a data event. */
function sseData(body: string): string[] | null {
  const events = body.split("\n\n");
  if (events.at(-1) !== "") return null; // Every event ends with a blank line.
  const out: string[] = [];
  for (const e of events.slice(0, -1)) {
    if (!e.startsWith("data: ")) return null;
    out.push(e.slice(6));
  }
  return out;
}

export function judge(requested: string, stream: boolean, r: Timed): Outcome {
  const header = (name: string) => {
    const v = r.headers[name];
    return typeof v === "string" ? v : "";
  };
  const o: Outcome = {
    requested,
    stream,
    status: r.status,
    kind: "malformed",
    source: header("x-gateway-source") || "-",
    servedBy: header("x-gateway-model") || "-",
    ms: r.ttlb,
    firstByteMs: r.ttfb,
    problem: null,
  };
  if (r.transportError !== null) {
    o.kind = "transport_error";
    o.problem = `transport error: ${r.transportError}`;
    return o;
  }
  const type = header("content-type");
  if (r.status === 200 && type.startsWith("application/json")) {
    const body = parse(r.body);
    o.kind = "json";
    if (!isRecord(body) || body.object !== "chat.completion" || !Array.isArray(body.choices))
      o.problem = "200 JSON that is not a chat.completion";
    return o;
  }
  if (r.status === 200 && type.startsWith("text/event-stream")) {
    const data = sseData(r.body);
    if (data === null || data.length === 0) {
      o.problem = "a stream with a malformed event";
      return o;
    }
    const last = data.at(-1) as string;
    const chunks = data.slice(0, -1);
    const chunksOk = chunks.every((d) => {
      const c = parse(d);
      return isRecord(c) && c.object === "chat.completion.chunk";
    });
    if (last === "[DONE]") {
      o.kind = "done";
      if (!chunksOk) o.problem = "a stream with a bad chunk before [DONE]";
      return o;
    }
    const err = parse(last);
    const e = isRecord(err) ? err.error : undefined;
    if (isRecord(e) && e.type === "upstream_error" && typeof e.message === "string") {
      o.kind = "error_event";
      if (!chunksOk || data.includes("[DONE]")) o.problem = "an SSE error event after a bad chunk or [DONE]";
      return o;
    }
    o.problem = `a stream ending in neither [DONE] nor an error event: ${last.slice(0, 120)}`;
    return o;
  }
  const body = parse(r.body);
  const e = isRecord(body) ? body.error : undefined;
  const shaped = isRecord(e) && typeof e.message === "string" && typeof e.type === "string" && "code" in e && "param" in e;
  o.kind = shaped && isRecord(e) ? `error:${String(e.code)}` : "malformed";
  if (!CONTRACT_STATUSES.has(r.status)) o.problem = `status ${r.status} is not a contract status: ${r.body.slice(0, 160)}`;
  else if (!shaped) o.problem = `a ${r.status} whose body is not an OpenAI error: ${r.body.slice(0, 160)}`;
  return o;
}
