// A chat request's response under the fault that applies to it (or none).
import { type Answer, chunkEvents, completionJson, DONE, sse, withUsage } from "./answer";
import { type Script, scripted, sleep, untilAborted } from "./body";
import type { Fault } from "./faults";
import { LARGE_DEFAULT_BYTES, LARGE_DEFAULT_CHUNK_BYTES, largeCompletion, largeStream } from "./large";
import { defaultStatusError, errorBody } from "./wire";

const UPSTREAM_OVERLOADED = errorBody({
  message: "upstream overloaded",
  type: "server_error",
  code: "overloaded",
});

const NO_BODY_STATUSES = new Set([204, 205, 304]);

function statusResponse(fault: Fault): Response {
  const headers = new Headers({ "content-type": "application/json" });
  if (fault.retryAfter !== undefined) headers.set("retry-after", fault.retryAfter);
  if (fault.retryAfterMs !== undefined) headers.set("retry-after-ms", fault.retryAfterMs);
  const body = fault.body === undefined ? errorBody(defaultStatusError(fault.status)) : fault.body;
  const text = NO_BODY_STATUSES.has(fault.status) ? null : JSON.stringify(body);
  return new Response(text, { status: fault.status, headers });
}

const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };
const JSON_HEADERS = { "content-type": "application/json" };

interface Shape {
  gapMs?: number;
  leadMs?: number;
  /** Events (stream) before the simulated cut; for a plain body, it is cut in half. */
  cutAfter?: number;
  /** A stream's events as sent (`[DONE]` included), changed the way a misbehaving provider would. */
  edit?: (events: string[]) => string[];
  stall?: boolean;
}

function answerResponse(a: Answer, stream: boolean, includeUsage: boolean, shape: Shape, signal: AbortSignal): Response {
  const cut = shape.cutAfter !== undefined;
  const script: Script = { parts: [], gapMs: shape.gapMs, leadMs: shape.leadMs, cut, stall: shape.stall };
  if (stream) {
    const events = (shape.edit ?? ((e) => e))([...chunkEvents(a, includeUsage), DONE]);
    script.parts = cut ? events.slice(0, shape.cutAfter) : events;
    return new Response(scripted(script, signal), { headers: SSE_HEADERS });
  }
  const text = JSON.stringify(completionJson(a));
  script.parts = [cut ? text.slice(0, Math.floor(text.length / 2)) : text];
  return new Response(scripted(script, signal), { headers: JSON_HEADERS });
}

export interface ChatCall {
  answer: () => Answer;
  stream: boolean;
  includeUsage: boolean;
  /** The last message is the assistant's: a stream being continued. */
  prefill: boolean;
  signal: AbortSignal;
}

export async function faulted(fault: Fault | null, call: ChatCall): Promise<Response> {
  const { stream, includeUsage, signal } = call;
  const normal = (shape: Shape = {}): Response =>
    answerResponse(withUsage(call.answer(), fault?.usage), stream, includeUsage, shape, signal);
  if (fault === null) return normal();
  switch (fault.mode) {
    case "ok":
      return normal();
    case "status":
      return statusResponse(fault);
    case "hang":
      return untilAborted(signal);
    case "slow_headers":
      await sleep(fault.delayMs, signal);
      return normal();
    case "slow_chunks":
      return normal(stream ? { gapMs: fault.delayMs } : { leadMs: fault.delayMs });
    case "cut_after":
      return normal({ cutAfter: fault.after });
    case "bad_json":
      // What a misbehaving proxy in front of the model typically sends.
      return new Response("<html><body><h1>502 Bad Gateway</h1></body></html>", { headers: JSON_HEADERS });
    case "bad_sse": {
      const parts = ["data: {not json\n\n", 'data: {"id": "chatcmpl-broken", "choices": [\n\n'];
      return new Response(scripted({ parts }, signal), { headers: SSE_HEADERS });
    }
    case "error_event":
      if (!stream) return Response.json(UPSTREAM_OVERLOADED);
      return new Response(scripted({ parts: [sse(UPSTREAM_OVERLOADED)] }, signal), { headers: SSE_HEADERS });
    case "odd_event": {
      const data = typeof fault.body === "string" ? fault.body : JSON.stringify(fault.body ?? null);
      return normal({ edit: (events) => events.toSpliced(fault.after, 0, `data: ${data}\n\n`) });
    }
    case "no_done":
      return normal({ edit: (events) => events.filter((e) => e !== DONE) });
    case "stall_after":
      return normal({ edit: (events) => events.slice(0, fault.after), stall: true });
    case "error_after":
      return normal({ edit: (events) => [...events.slice(0, fault.after), sse(UPSTREAM_OVERLOADED)] });
    case "cut_midstream":
      return normal(call.prefill ? {} : { cutAfter: fault.after });
    case "reject_prefill": {
      if (!call.prefill) return normal();
      const message = "This model does not support assistant message prefill.";
      return Response.json(errorBody({ message, type: "invalid_request_error", code: "invalid_request" }), { status: 400 });
    }
    case "large": {
      const bytes = fault.bytes ?? LARGE_DEFAULT_BYTES;
      if (!stream) return new Response(largeCompletion(call.answer(), bytes), { headers: JSON_HEADERS });
      const body = largeStream(call.answer(), bytes, fault.chunkBytes ?? LARGE_DEFAULT_CHUNK_BYTES, includeUsage);
      return new Response(body, { headers: SSE_HEADERS });
    }
  }
}
