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
  /** Choices asked for (`n`); choice 0 is the answer above, the others say so in their text. */
  n: number;
  usage: Usage;
  /** Sent in place of `usage` when set: what a fault dictates, however odd. */
  reportedUsage?: unknown;
}

/** The answer reporting `usage` instead of its own count (undefined: its own count). */
export function withUsage(a: Answer, usage: unknown): Answer {
  return usage === undefined ? a : { ...a, reportedUsage: usage };
}

const usageOf = (a: Answer): unknown => (a.reportedUsage === undefined ? a.usage : a.reportedUsage);

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

/**
 * The rest of an answer whose beginning came as an assistant prefill (a stream being continued):
 * the answer the prefill's own model would have given, past the prefill. A fallback model thus
 * finishes another model's text exactly, as tests of stream rescue need.
 */
function continuation(prefill: string, model: string, userText: string): string {
  const author = /^Hello from (\S+?)\. /.exec(prefill)?.[1] ?? model;
  const full = `Hello from ${author}. You said: ${userText}`;
  return full.startsWith(prefill) ? full.slice(prefill.length) : full;
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
  } else if (last?.role === "assistant" && typeof last.content === "string") {
    content = continuation(last.content, model, userText);
  } else {
    content = `Hello from ${model}. You said: ${userText}`;
  }

  const n = typeof body.n === "number" && Number.isInteger(body.n) ? Math.min(Math.max(body.n, 1), 8) : 1;
  const chars = msgs.reduce((sum, m) => sum + textOf(m.content).length, 0);
  const prompt = Math.ceil(chars / 4);
  const completion = words(content ?? toolCall?.arguments ?? "");
  return {
    id: `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`,
    created: Math.floor(Date.now() / 1000),
    model,
    content,
    toolCall,
    finishReason: toolCall === null ? "stop" : "tool_calls",
    n,
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

/** Choice `i` of an answer: choice 0 is the answer itself. */
function choice(a: Answer, i: number): { content: string | null; toolCall: ToolCall | null } {
  if (i === 0) return { content: a.content, toolCall: a.toolCall };
  const content = a.content === null ? null : `${a.content} (choice ${i + 1})`;
  return { content, toolCall: a.toolCall === null ? null : { ...a.toolCall, id: `${a.toolCall.id}_${i}` } };
}

export function completionJson(a: Answer): Json {
  const choices = Array.from({ length: a.n }, (_, index) => {
    const { content, toolCall } = choice(a, index);
    const message: Json = { role: "assistant", content, refusal: null };
    if (toolCall !== null) {
      const { id, name, arguments: args } = toolCall;
      message.tool_calls = [{ id, type: "function", function: { name, arguments: args } }];
    }
    return { index, message, logprobs: null, finish_reason: a.finishReason };
  });
  return { id: a.id, object: "chat.completion", created: a.created, model: a.model, choices, usage: usageOf(a) };
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
  const chunk = (index: number, delta: Json, finish: string | null = null): string => {
    const c: Json = { id: a.id, object: "chat.completion.chunk", created: a.created, model: a.model };
    c.choices = [{ index, delta, logprobs: null, finish_reason: finish }];
    // OpenAI puts `usage: null` on every chunk once usage was asked for.
    if (includeUsage) c.usage = null;
    return sse(c);
  };
  const events: string[] = [];
  for (let index = 0; index < a.n; index++) {
    const { content, toolCall } = choice(a, index);
    events.push(chunk(index, { role: "assistant", content: "" }));
    for (const p of pieces(content ?? "", "word")) events.push(chunk(index, { content: p }));
    if (toolCall !== null) {
      const { id, name, arguments: args } = toolCall;
      events.push(chunk(index, { tool_calls: [{ index: 0, id, type: "function", function: { name, arguments: "" } }] }));
      for (const p of pieces(args, 8)) events.push(chunk(index, { tool_calls: [{ index: 0, function: { arguments: p } }] }));
    }
    events.push(chunk(index, {}, a.finishReason));
  }
  if (includeUsage) {
    events.push(
      sse({ id: a.id, object: "chat.completion.chunk", created: a.created, model: a.model, choices: [], usage: usageOf(a) }),
    );
  }
  return events;
}
