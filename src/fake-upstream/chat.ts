// POST …/chat/completions: checks the request as OpenAI would, answers it (or misbehaves as the
// fault switches say), and records the call in stats.
import { answer, isRecord } from "./answer";
import { tracked } from "./body";
import type { FaultStore } from "./faults";
import { faulted } from "./respond";
import { type FakeStats, keyFingerprint } from "./stats";
import { bearerKey, MISSING_KEY, openAiError, type Parsed, parseJson } from "./wire";

export interface ChatDeps {
  models: ReadonlySet<string>;
  faults: FaultStore;
  stats: FakeStats;
}

async function respondChat(deps: ChatDeps, key: string | null, parsed: Parsed, signal: AbortSignal): Promise<Response> {
  if (key === null) return openAiError(401, MISSING_KEY);
  const bad = (message: string, param: string | null = null): Response =>
    openAiError(400, { message, type: "invalid_request_error", code: null, param });
  if (!parsed.ok) return bad("We could not parse the JSON body of your request.");
  const body = parsed.value;
  if (!isRecord(body)) return bad("The request body must be a JSON object.");
  const model = body.model;
  if (typeof model !== "string") return bad("You must provide a model parameter.", "model");
  // Tests give each case its own model (`gpt-4.1-<suffix>`) so circuits never collide.
  if (![...deps.models].some((m) => model === m || model.startsWith(`${m}-`))) {
    const message = `The model \`${model}\` does not exist`;
    return openAiError(404, { message, type: "invalid_request_error", code: "model_not_found", param: "model" });
  }
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    return bad("`messages` must be a non-empty array.", "messages");
  }
  const options = body.stream_options;
  return faulted(await deps.faults.take(model, key), {
    answer: () => answer(body, model, messages),
    stream: body.stream === true,
    includeUsage: isRecord(options) && options.include_usage === true,
    prefill: isRecord(messages.at(-1)) && (messages.at(-1) as { role?: unknown }).role === "assistant",
    signal,
  });
}

export async function chat(deps: ChatDeps, req: Request): Promise<Response> {
  const at = Date.now();
  const key = bearerKey(req);
  const parsed = parseJson(await req.text());
  const body = parsed.ok ? parsed.value : null;
  const tracker = deps.stats.begin(
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
    res = await respondChat(deps, key, parsed, req.signal);
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
