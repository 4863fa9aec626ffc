import type { ChatCompletionChunk } from "../core/openai";
import { eventData } from "../core/sse";

/**
 * One upstream SSE event, classified once: the first-event check before commit and the relay
 * after it read the same verdicts, so the two can never disagree about what an event means.
 */
export type UpstreamEvent =
  | { kind: "meta" } // a comment or an event without data: forwarded, says nothing
  | { kind: "done" }
  | { kind: "malformed" } // data that is not JSON
  | { kind: "error"; code: string } // the upstream reported an error in the stream
  | { kind: "chunk"; chunk: ChatCompletionChunk; usageOnly: boolean };

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
  if (typeof parsed !== "object" || parsed === null) return { kind: "malformed" };
  const chunk = parsed as ChatCompletionChunk & { error?: { code?: unknown } | null };
  if (chunk.error) return { kind: "error", code: typeof chunk.error.code === "string" ? chunk.error.code : "upstream_error" };
  const usageOnly = Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage != null;
  return { kind: "chunk", chunk, usageOnly };
}

/** A chunk that can start a committed stream: one with choices (not an error, not odd JSON). */
export function startsAnswer(e: UpstreamEvent): boolean {
  return e.kind === "chunk" && Array.isArray(e.chunk.choices);
}
