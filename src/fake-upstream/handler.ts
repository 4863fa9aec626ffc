// The simulated HolySheep upstream (DESIGN.md section 8). Web-standard APIs only, so the same
// handler runs mounted in the Worker (dev mode) and behind the Node adapter (tests, benches).
import { z } from "zod";
import { type Answer, answer, chunkEvents, completionJson, DONE, isRecord, sse } from "./answer";
import { type Script, scripted, sleep, tracked, untilAborted } from "./body";
import { type Fault, FaultRequestSchema, type FaultStore } from "./faults";
import { LARGE_DEFAULT_BYTES, LARGE_DEFAULT_CHUNK_BYTES, largeCompletion, largeStream } from "./large";
import { FakeStats, keyFingerprint } from "./stats";

export interface FakeUpstreamOptions {
  models: string[];
  faults: FaultStore;
  /** Pass one in to read it directly; otherwise the handler keeps its own. */
  stats?: FakeStats;
}

export type FetchHandler = (req: Request) => Promise<Response>;

type ErrorType = "invalid_request_error" | "server_error" | "requests" | "permission_error";

interface ErrorSpec {
  message: string;
  type: ErrorType;
  code: string | null;
  param?: string | null;
}

function errorBody({ message, type, code, param = null }: ErrorSpec): { error: ErrorSpec } {
  return { error: { message, type, code, param } };
}

function openAiError(status: number, spec: ErrorSpec): Response {
  return Response.json(errorBody(spec), { status });
}

/** What a status fault sends when the fault gives no `body`, worded like OpenAI's own. */
function defaultStatusError(status: number): ErrorSpec {
  switch (status) {
    case 401:
      return { message: "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key" };
    case 403:
      return { message: "This key may not use this model.", type: "permission_error", code: "permission_denied" };
    case 429:
      return { message: "Rate limit reached for requests.", type: "requests", code: "rate_limit_exceeded" };
    case 503:
      return { message: "The server is overloaded or not ready yet.", type: "server_error", code: "overloaded" };
  }
  const type = status >= 500 ? "server_error" : "invalid_request_error";
  return { message: `Simulated upstream error (HTTP ${status}).`, type, code: null };
}

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
}

function answerResponse(a: Answer, stream: boolean, includeUsage: boolean, shape: Shape, signal: AbortSignal): Response {
  const cut = shape.cutAfter !== undefined;
  const script: Script = { parts: [], gapMs: shape.gapMs, leadMs: shape.leadMs, cut };
  if (stream) {
    const events = [...chunkEvents(a, includeUsage), DONE];
    script.parts = cut ? events.slice(0, shape.cutAfter) : events;
    return new Response(scripted(script, signal), { headers: SSE_HEADERS });
  }
  const text = JSON.stringify(completionJson(a));
  script.parts = [cut ? text.slice(0, Math.floor(text.length / 2)) : text];
  return new Response(scripted(script, signal), { headers: JSON_HEADERS });
}

interface ChatCall {
  answer: () => Answer;
  stream: boolean;
  includeUsage: boolean;
  signal: AbortSignal;
}

async function faulted(fault: Fault | null, call: ChatCall): Promise<Response> {
  const { stream, includeUsage, signal } = call;
  const usageOverride = fault?.usage;
  const reply = (): Answer => (usageOverride ? { ...call.answer(), usageOverride } : call.answer());
  const normal = (shape: Shape = {}): Response => answerResponse(reply(), stream, includeUsage, shape, signal);
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
    case "large": {
      const bytes = fault.bytes ?? LARGE_DEFAULT_BYTES;
      if (!stream) return new Response(largeCompletion(call.answer(), bytes), { headers: JSON_HEADERS });
      const body = largeStream(call.answer(), bytes, fault.chunkBytes ?? LARGE_DEFAULT_CHUNK_BYTES, includeUsage);
      return new Response(body, { headers: SSE_HEADERS });
    }
  }
}

function bearerKey(req: Request): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "");
  return m?.[1] ?? null;
}

const MISSING_KEY: ErrorSpec = {
  message: "You didn't provide an API key. Send it as `Authorization: Bearer <key>`.",
  type: "invalid_request_error",
  code: "invalid_api_key",
};

type Parsed = { ok: true; value: unknown } | { ok: false };

function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

export function createFakeUpstream(opts: FakeUpstreamOptions): FetchHandler {
  const { faults } = opts;
  const stats = opts.stats ?? new FakeStats();
  const models = new Set(opts.models);
  const webhook: ReturnType<typeof parseJson>[] = [];

  async function respondChat(key: string | null, parsed: Parsed, signal: AbortSignal): Promise<Response> {
    if (key === null) return openAiError(401, MISSING_KEY);
    const bad = (message: string, param: string | null = null): Response =>
      openAiError(400, { message, type: "invalid_request_error", code: null, param });
    if (!parsed.ok) return bad("We could not parse the JSON body of your request.");
    const body = parsed.value;
    if (!isRecord(body)) return bad("The request body must be a JSON object.");
    const model = body.model;
    if (typeof model !== "string") return bad("You must provide a model parameter.", "model");
    // Tests give each case its own model (`gpt-4.1-<suffix>`) so circuits never collide.
    if (![...models].some((m) => model === m || model.startsWith(`${m}-`))) {
      const message = `The model \`${model}\` does not exist`;
      return openAiError(404, { message, type: "invalid_request_error", code: "model_not_found", param: "model" });
    }
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      return bad("`messages` must be a non-empty array.", "messages");
    }
    const options = body.stream_options;
    return faulted(await faults.take(model, key), {
      answer: () => answer(body, model, messages),
      stream: body.stream === true,
      includeUsage: isRecord(options) && options.include_usage === true,
      signal,
    });
  }

  async function chat(req: Request): Promise<Response> {
    const at = Date.now();
    const key = bearerKey(req);
    const parsed = parseJson(await req.text());
    const body = parsed.ok ? parsed.value : null;
    const tracker = stats.begin(
      {
        model: isRecord(body) && typeof body.model === "string" ? body.model : "",
        stream: isRecord(body) && body.stream === true,
        keyFingerprint: key === null ? "" : await keyFingerprint(key),
        at,
        body,
      },
      req.signal,
    );
    let res: Response;
    try {
      res = await respondChat(key, parsed, req.signal);
    } catch (err) {
      tracker.finish("aborted");
      throw err;
    }
    if (res.body === null) {
      tracker.finish("completed");
      return res;
    }
    return new Response(tracked(res.body, tracker), { status: res.status, headers: res.headers });
  }

  function listModels(req: Request): Response {
    if (bearerKey(req) === null) return openAiError(401, MISSING_KEY);
    const data = [...models].map((id) => ({ id, object: "model", created: 1735689600, owned_by: "holysheep" }));
    return Response.json({ object: "list", data });
  }

  async function setFaults(req: Request): Promise<Response> {
    const parsed = parseJson(await req.text());
    const result = FaultRequestSchema.safeParse(parsed.ok ? parsed.value : undefined);
    if (!result.success) {
      const message = parsed.ok ? z.prettifyError(result.error) : "The body is not JSON.";
      return openAiError(400, { message, type: "invalid_request_error", code: null });
    }
    for (const f of result.data) await faults.set(f);
    return Response.json({ faults: await faults.list() });
  }

  const notAllowed = (): Response =>
    openAiError(405, { message: "Method not allowed.", type: "invalid_request_error", code: null });

  return async (req) => {
    const path = new URL(req.url).pathname.replace(/\/+$/, "");
    const method = req.method;
    if (path.endsWith("/chat/completions")) return method === "POST" ? chat(req) : notAllowed();
    if (path.endsWith("/models")) return method === "GET" ? listModels(req) : notAllowed();
    if (path.endsWith("/__fake/faults")) {
      if (method === "GET") return Response.json({ faults: await faults.list() });
      if (method === "POST") return setFaults(req);
      if (method === "DELETE") {
        await faults.clear();
        return Response.json({ faults: [] });
      }
      return notAllowed();
    }
    if (path.endsWith("/__fake/stats")) {
      if (method === "GET") return Response.json(stats.snapshot());
      if (method === "DELETE") {
        stats.clear();
        return Response.json(stats.snapshot());
      }
      return notAllowed();
    }
    if (path.endsWith("/__fake/webhook")) {
      // A stand-in alert receiver, so tests can count the alerts a circuit sends.
      if (method === "POST") {
        webhook.push(parseJson(await req.text()));
        if (webhook.length > 1000) webhook.shift();
        return Response.json({ ok: true });
      }
      if (method === "GET") return Response.json({ received: webhook.map((p) => (p.ok ? p.value : null)) });
      if (method === "DELETE") {
        webhook.length = 0;
        return Response.json({ received: [] });
      }
      return notAllowed();
    }
    const message = `Unknown path ${path}`;
    return openAiError(404, { message, type: "invalid_request_error", code: "unknown_url" });
  };
}
