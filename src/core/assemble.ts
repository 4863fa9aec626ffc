import type { ChatCompletion, ChatCompletionChunk, Usage } from "./openai";

interface ToolCallParts {
  id: string;
  type: string;
  name: string;
  arguments: string;
}

interface ChoiceParts {
  role: string;
  content: string | null;
  refusal: string | null;
  toolCalls: ToolCallParts[];
  finishReason: string | null;
  /** `logprobs.content` and `logprobs.refusal` entries, in order; null when none came. */
  logprobs: { content: unknown[] | null; refusal: unknown[] | null } | null;
}

interface Delta {
  role?: string;
  content?: string | null;
  refusal?: string | null;
  tool_calls?: Array<{ index: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Rebuilds the `chat.completion` a stream's chunks add up to, as they pass (no tee, no second
 * read): every choice (`n > 1`), text, refusal, tool calls, logprobs, finish reasons, and the
 * top-level `system_fingerprint` and `service_tier`. Past `maxBytes` of text it stops and gives
 * no answer (the cache's bound; a client's own answer has none).
 */
export class CompletionAssembler {
  private readonly choices = new Map<number, ChoiceParts>();
  private head: Pick<ChatCompletion, "id" | "created" | "model"> = { id: "", created: 0, model: "" };
  private readonly extra: Record<string, unknown> = {};
  private bytes = 0;
  overflow = false;

  constructor(private readonly maxBytes = Number.POSITIVE_INFINITY) {}

  add(chunk: ChatCompletionChunk): void {
    if (this.overflow) return;
    this.head = {
      id: this.head.id || chunk.id,
      created: this.head.created || chunk.created,
      model: this.head.model || chunk.model,
    };
    for (const field of ["system_fingerprint", "service_tier"] as const) {
      if (chunk[field] != null) this.extra[field] = chunk[field];
    }
    for (const c of Array.isArray(chunk.choices) ? chunk.choices : []) this.addChoice(c);
    if (this.bytes > this.maxBytes) {
      this.overflow = true;
      this.choices.clear();
    }
  }

  private addChoice(c: ChatCompletionChunk["choices"][number]): void {
    if (!isRecord(c) || typeof c.index !== "number") return;
    let parts = this.choices.get(c.index);
    if (!parts) {
      parts = { role: "assistant", content: null, refusal: null, toolCalls: [], finishReason: null, logprobs: null };
      this.choices.set(c.index, parts);
    }
    const delta: Delta = isRecord(c.delta) ? c.delta : {};
    if (typeof delta.role === "string") parts.role = delta.role;
    if (typeof delta.content === "string") {
      parts.content = (parts.content ?? "") + delta.content;
      this.bytes += delta.content.length;
    }
    if (typeof delta.refusal === "string") parts.refusal = (parts.refusal ?? "") + delta.refusal;
    for (const t of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) this.addToolCall(parts, t);
    this.addLogprobs(parts, (c as { logprobs?: unknown }).logprobs);
    if (c.finish_reason) parts.finishReason = c.finish_reason;
  }

  private addToolCall(parts: ChoiceParts, t: NonNullable<Delta["tool_calls"]>[number]): void {
    if (!isRecord(t) || typeof t.index !== "number") return;
    const call = (parts.toolCalls[t.index] ??= { id: "", type: "function", name: "", arguments: "" });
    if (t.id) call.id = t.id;
    if (t.type) call.type = t.type;
    if (typeof t.function?.name === "string") call.name += t.function.name;
    if (typeof t.function?.arguments === "string") {
      call.arguments += t.function.arguments;
      this.bytes += t.function.arguments.length;
    }
  }

  private addLogprobs(parts: ChoiceParts, logprobs: unknown): void {
    if (!isRecord(logprobs)) return;
    parts.logprobs ??= { content: null, refusal: null };
    for (const field of ["content", "refusal"] as const) {
      const entries = logprobs[field];
      if (Array.isArray(entries)) parts.logprobs[field] = [...(parts.logprobs[field] ?? []), ...entries];
    }
  }

  /** The whole answer, or null when it overflowed or some choice never finished. */
  result(usage: Usage | null): ChatCompletion | null {
    if (this.overflow || this.choices.size === 0) return null;
    const choices = [...this.choices.entries()].sort(([a], [b]) => a - b).map(([index, p]) => choiceOf(index, p));
    if (choices.some((c) => c.finish_reason === null)) return null;
    return { ...this.head, object: "chat.completion", choices, usage, ...this.extra };
  }

  /** Every choice has its finish reason: the answer is whole even if `[DONE]` never comes. */
  get complete(): boolean {
    return this.choices.size > 0 && [...this.choices.values()].every((p) => p.finishReason !== null);
  }
}

function choiceOf(index: number, p: ChoiceParts): ChatCompletion["choices"][number] {
  // A tool-call answer's streamed content is "" at most: its JSON form says null.
  const content = p.toolCalls.length > 0 && !p.content ? null : p.content;
  const message: Record<string, unknown> = { role: p.role, content, refusal: p.refusal };
  if (p.toolCalls.length > 0) {
    message.tool_calls = p.toolCalls.map((t) => ({ id: t.id, type: t.type, function: { name: t.name, arguments: t.arguments } }));
  }
  return { index, message, logprobs: p.logprobs, finish_reason: p.finishReason };
}
