import type { ChatCompletion, ChatCompletionChunk, Usage } from "../core/openai";

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
}

/**
 * Rebuilds a `chat.completion` from the chunks of a stream as they pass (no tee, no second
 * read). Past `maxBytes` of text it stops and the answer is not cached.
 */
export class StreamAssembler {
  private readonly choices = new Map<number, ChoiceParts>();
  private id = "";
  private created = 0;
  private model = "";
  private systemFingerprint: unknown;
  private bytes = 0;
  overflow = false;

  constructor(private readonly maxBytes: number) {}

  add(chunk: ChatCompletionChunk): void {
    if (this.overflow) return;
    this.id ||= chunk.id;
    this.created ||= chunk.created;
    this.model ||= chunk.model;
    this.systemFingerprint ??= chunk.system_fingerprint;
    for (const c of chunk.choices ?? []) {
      let parts = this.choices.get(c.index);
      if (!parts) {
        parts = { role: "assistant", content: null, refusal: null, toolCalls: [], finishReason: null };
        this.choices.set(c.index, parts);
      }
      const delta = c.delta as {
        role?: string;
        content?: string | null;
        refusal?: string | null;
        tool_calls?: Array<{ index: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }>;
      };
      if (delta.role) parts.role = delta.role;
      if (typeof delta.content === "string") {
        parts.content = (parts.content ?? "") + delta.content;
        this.bytes += delta.content.length;
      }
      if (typeof delta.refusal === "string") parts.refusal = (parts.refusal ?? "") + delta.refusal;
      for (const t of delta.tool_calls ?? []) {
        const call = (parts.toolCalls[t.index] ??= { id: "", type: "function", name: "", arguments: "" });
        if (t.id) call.id = t.id;
        if (t.type) call.type = t.type;
        if (t.function?.name) call.name += t.function.name;
        if (t.function?.arguments) {
          call.arguments += t.function.arguments;
          this.bytes += t.function.arguments.length;
        }
      }
      if (c.finish_reason) parts.finishReason = c.finish_reason;
    }
    if (this.bytes > this.maxBytes) {
      this.overflow = true;
      this.choices.clear();
    }
  }

  /** The whole answer, or null when it overflowed or never finished. */
  result(usage: Usage | null): ChatCompletion | null {
    if (this.overflow || this.choices.size === 0) return null;
    const choices = [...this.choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, p]) => {
        const message: Record<string, unknown> = { role: p.role, content: p.content, refusal: p.refusal };
        if (p.toolCalls.length > 0) {
          message.tool_calls = p.toolCalls.map((t) => ({
            id: t.id,
            type: t.type,
            function: { name: t.name, arguments: t.arguments },
          }));
        }
        return { index, message, finish_reason: p.finishReason };
      });
    if (choices.some((c) => c.finish_reason === null)) return null;
    return {
      id: this.id,
      object: "chat.completion",
      created: this.created,
      model: this.model,
      choices,
      usage,
      ...(this.systemFingerprint !== undefined ? { system_fingerprint: this.systemFingerprint } : {}),
    };
  }
}
