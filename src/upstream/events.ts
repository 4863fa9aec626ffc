import type { ChatCompletionChunk } from "../core/openai";
import { eventData } from "../core/sse";

/**
 * One upstream SSE event, classified once: the first-event check before commit, the relay and
 * the collector after it read the same verdicts, so none can disagree about what an event means.
 */
export type UpstreamEvent =
  | { kind: "meta" } // a comment or an event without data: forwarded, says nothing
  | { kind: "done" }
  | { kind: "malformed" } // data that is not JSON at all: dropped (DESIGN §12)
  | { kind: "odd" } // JSON, but no chunk (`null`, no `choices`): relayed as it came, not a cut
  | { kind: "error"; code: string } // the upstream reported an error in the stream
  | { kind: "chunk"; chunk: ChatCompletionChunk; usageOnly: boolean };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

const isChoice = (c: unknown): boolean => isRecord(c) && typeof c.index === "number" && isRecord(c.delta);

export function classifyEvent(event: string): UpstreamEvent {
  const data = eventData(event);
  if (data === null) return { kind: "meta" };
  if (data.trim() === "[DONE]") return { kind: "done" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return { kind: "malformed" };
  }
  if (!isRecord(parsed)) return { kind: "odd" };
  if (parsed.error) {
    const code = isRecord(parsed.error) && typeof parsed.error.code === "string" ? parsed.error.code : "upstream_error";
    return { kind: "error", code };
  }
  // A choice that is not an object with an index and a delta is odd too: nothing downstream
  // (assembler, splicer, rescue) has to guard against it.
  if (!Array.isArray(parsed.choices) || !parsed.choices.every(isChoice)) return { kind: "odd" };
  const chunk = parsed as unknown as ChatCompletionChunk;
  return { kind: "chunk", chunk, usageOnly: chunk.choices.length === 0 && chunk.usage != null };
}

/**
 * Which choices of a stream have finished: once all have, the answer is whole even if the
 * upstream closes without `[DONE]` (DESIGN §12).
 */
export class FinishTracker {
  private readonly finished = new Map<number, boolean>();

  see(chunk: ChatCompletionChunk): void {
    for (const c of chunk.choices) {
      if (!isRecord(c) || typeof c.index !== "number") continue;
      this.finished.set(c.index, this.finished.get(c.index) === true || c.finish_reason != null);
    }
  }

  get complete(): boolean {
    return this.finished.size > 0 && [...this.finished.values()].every(Boolean);
  }
}
