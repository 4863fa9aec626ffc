import type { ChatCompletionChunk, Usage } from "../core/openai";
import { normalizeUsage } from "../core/usage";

/** Why the first part of a stream broke (DESIGN §15): named in the marker on the spliced answer. */
export type BreakKind = "cut" | "idle" | "error_event" | "timeout";

/** The first part's identity: every spliced chunk is rewritten to it. */
export interface FirstPart {
  id: string;
  created: number;
  model: string;
  /** Completion tokens of what the first part relayed (its usage, else estimated from its text). */
  completionTokens: number;
}

const encoder = new TextEncoder();

/**
 * Past this much relayed text a stream is not continued: a prefill that long is more than most
 * models take back, and keeping a copy of a long stream's text would make its memory grow with it.
 */
export const MAX_PREFILL_CHARS = 65_536;
const sse = (chunk: unknown) => `data: ${JSON.stringify(chunk)}\n\n`;

/**
 * Rewrites a continuation's chunks into the first part's stream: its role delta dropped, every
 * chunk carrying the first part's `id`, `created` and `model`, usage summed over both parts. The
 * last chunk before `[DONE]` carries the `x_gateway` marker, so one chunk is held back until the
 * next arrives.
 */
export class Splicer {
  private held: ChatCompletionChunk | null = null;

  constructor(
    private readonly first: FirstPart,
    private readonly marker: { continued: true; by: string; provider: string; after: BreakKind },
  ) {}

  /** Text to send now for this continuation chunk (maybe the one held before it). */
  chunk(chunk: ChatCompletionChunk): string {
    const rewritten = this.rewrite(chunk);
    if (rewritten === null) return "";
    const out = this.held === null ? "" : sse(this.held);
    this.held = rewritten;
    return out;
  }

  /** The held chunk, unmarked: another continuation follows this one. */
  flush(): string {
    const out = this.held === null ? "" : sse(this.held);
    this.held = null;
    return out;
  }

  /** The end of the spliced answer: the held chunk, marked, then `[DONE]`. */
  done(doneEvent: string): Uint8Array {
    const last = this.held === null ? "" : sse({ ...this.held, x_gateway: this.marker });
    this.held = null;
    return encoder.encode(last + doneEvent);
  }

  private rewrite(chunk: ChatCompletionChunk): ChatCompletionChunk | null {
    const choices = chunk.choices.flatMap((c) => {
      const { role: _role, ...delta } = c.delta ?? {};
      const empty = Object.keys(delta).length === 0 || (Object.keys(delta).length === 1 && delta.content === "");
      return empty && c.finish_reason == null ? [] : [{ ...c, delta }];
    });
    if (choices.length === 0 && chunk.usage == null) return null;
    const { id, created, model } = this.first;
    return { ...chunk, id, created, model, choices, ...(chunk.usage ? { usage: this.sum(chunk.usage) } : {}) };
  }

  private sum(raw: Usage): Usage {
    const usage = normalizeUsage(raw);
    if (usage === null) return raw;
    const completion = usage.completion_tokens + this.first.completionTokens;
    return { ...usage, completion_tokens: completion, total_tokens: usage.prompt_tokens + completion };
  }
}

/** What a broken stream had relayed, for whoever continues it (DESIGN §15). */
export interface Relayed {
  /** Choice 0's text so far. */
  text: string;
  after: BreakKind;
}

/** A continuation that committed: its client-ready SSE body, and the model (and provider) that answers it. */
export interface Continuation {
  body: ReadableStream<Uint8Array>;
  by: string;
  provider: string;
}

/** Finds a step that continues a broken stream; null when none can. */
export type Rescue = (relayed: Relayed) => Promise<Continuation | null>;

/** Choice 0's text as relayed, the first chunk's identity, and whether a continuation could carry on from it. */
export class RelayedText {
  text = "";
  continuable = true;
  first: { id: string; created: number; model: string } | null = null;

  see(chunk: ChatCompletionChunk): void {
    this.first ??= { id: chunk.id, created: chunk.created, model: chunk.model };
    if (!this.continuable) return;
    for (const c of chunk.choices) {
      // Tool calls and several choices cannot be continued from a text prefill (DESIGN §15).
      if (c.index !== 0 || c.delta?.tool_calls !== undefined) this.stop();
      else if (typeof c.delta?.content === "string") this.text += c.delta.content;
    }
    if (this.text.length > MAX_PREFILL_CHARS) this.stop();
  }

  /** Not continuable: the text is no longer kept, so a long stream holds no copy of itself. */
  private stop(): void {
    this.continuable = false;
    this.text = "";
  }
}
