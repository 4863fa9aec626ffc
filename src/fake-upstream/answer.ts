// Deterministic answers in OpenAI's Chat Completions shapes. The text depends only on the
// request, so tests (and the gateway's cache) can predict it; ids and timestamps vary like the
// real API's.

type Json = Record<string, unknown>;

export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface Answer {
  id: string;
  created: number;
  model: string;
  content: string | null;
  toolCall: ToolCall | null;
  finishReason: "stop" | "tool_calls";
  usage: Usage;
  /** Sent instead of `usage` when set: a provider's odd or broken usage object, verbatim. */
  usageOverride?: Record<string, unknown>;
}

export function isRecord(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Text of a message's content, whether a string or an array of `{type:"text"}` parts. */
function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part) => (isRecord(part) && typeof part.text === "string" ? part.text : ""))
    .filter((t) => t !== "")
    .join(" ");
}

function firstToolName(body: Json): string | null {
  if (body.tool_choice === "none" || !Array.isArray(body.tools)) return null;
  const fn: unknown = isRecord(body.tools[0]) ? body.tools[0].function : undefined;
  return isRecord(fn) && typeof fn.name === "string" ? fn.name : null;
}

function words(text: string): number {
  return text.split(/\s+/).filter((w) => w !== "").length;
}

/** `body` must already be known to carry a `messages` array. */
export function answer(body: Json, model: string, messages: unknown[]): Answer {
  const msgs = messages.filter(isRecord);
  const last = msgs.at(-1);
  const lastUser = msgs.findLast((m) => m.role === "user");
  const userText = lastUser === undefined ? "" : textOf(lastUser.content);
  const tool = firstToolName(body);

  let content: string | null;
  let toolCall: ToolCall | null = null;
  if (last?.role === "tool") {
    content = `Tool said: ${textOf(last.content)}`;
  } else if (tool !== null && last?.role === "user") {
    content = null;
    const id = `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
    toolCall = { id, name: tool, arguments: JSON.stringify({ echo: userText }) };
  } else {
    content = `Hello from ${model}. You said: ${userText}`;
  }

  const chars = msgs.reduce((n, m) => n + textOf(m.content).length, 0);
  const prompt = Math.ceil(chars / 4);
  const completion = words(content ?? toolCall?.arguments ?? "");
  return {
    id: `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`,
    created: Math.floor(Date.now() / 1000),
    model,
    content,
    toolCall,
    finishReason: toolCall === null ? "stop" : "tool_calls",
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

export function completionJson(a: Answer): Json {
  const message: Json = { role: "assistant", content: a.content, refusal: null };
  if (a.toolCall !== null) {
    const { id, name, arguments: args } = a.toolCall;
    message.tool_calls = [{ id, type: "function", function: { name, arguments: args } }];
  }
  return {
    id: a.id,
    object: "chat.completion",
    created: a.created,
    model: a.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: a.finishReason }],
    usage: a.usageOverride ?? a.usage,
  };
}

export function sse(data: unknown): string {
  return `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
}

export const DONE = "data: [DONE]\n\n";

/** Splits so that the pieces concatenate back to exactly `text`. */
function pieces(text: string, size: number | "word"): string[] {
  if (size === "word") return text.match(/\s*\S+\s*|\s+/g) ?? [];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** The SSE events of a streamed answer, without the closing `[DONE]`. */
export function chunkEvents(a: Answer, includeUsage: boolean): string[] {
  const chunk = (delta: Json, finish: string | null = null, choices = true): string => {
    const c: Json = { id: a.id, object: "chat.completion.chunk", created: a.created, model: a.model };
    c.choices = choices ? [{ index: 0, delta, logprobs: null, finish_reason: finish }] : [];
    // OpenAI puts `usage: null` on every chunk once usage was asked for.
    if (includeUsage) c.usage = choices ? null : (a.usageOverride ?? a.usage);
    return sse(c);
  };

  const events = [chunk({ role: "assistant", content: "" })];
  for (const p of pieces(a.content ?? "", "word")) events.push(chunk({ content: p }));
  if (a.toolCall !== null) {
    const { id, name, arguments: args } = a.toolCall;
    const head = { index: 0, id, type: "function", function: { name, arguments: "" } };
    events.push(chunk({ tool_calls: [head] }));
    for (const p of pieces(args, 8)) {
      events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: p } }] }));
    }
  }
  events.push(chunk({}, a.finishReason));
  if (includeUsage) events.push(chunk({}, null, false));
  return events;
}
