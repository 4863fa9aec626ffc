// The `large` fault mode: an answer whose content is `bytes` long, for memory and throughput
// benches (a 50 MB stream through the gateway). A stream is produced lazily, one
// `chunkBytes`-long content delta per pull, so the fake itself never holds the whole answer.
import { type Answer, completionJson, DONE, sse } from "./answer";

export const LARGE_DEFAULT_BYTES = 1_048_576;
export const LARGE_DEFAULT_CHUNK_BYTES = 16_384;

const PATTERN = "the quick brown fox jumps over the lazy dog ";

/** `n` bytes of plain ASCII text (nothing JSON has to escape). */
export function filler(n: number): string {
  if (n <= 0) return "";
  return PATTERN.repeat(Math.ceil(n / PATTERN.length)).slice(0, n);
}

function usageFor(a: Answer, bytes: number): Answer["usage"] {
  const completion = Math.ceil(bytes / 4);
  return {
    prompt_tokens: a.usage.prompt_tokens,
    completion_tokens: completion,
    total_tokens: a.usage.prompt_tokens + completion,
  };
}

/** A plain chat.completion whose content is `bytes` long. */
export function largeCompletion(a: Answer, bytes: number): string {
  return JSON.stringify(
    completionJson({ ...a, content: filler(bytes), toolCall: null, finishReason: "stop", usage: usageFor(a, bytes) }),
  );
}

/**
 * The SSE body of a `bytes`-long answer: a role chunk, ceil(bytes / chunkBytes) content chunks,
 * a finish chunk, the usage chunk when asked for, then `[DONE]`.
 */
export function largeStream(a: Answer, bytes: number, chunkBytes: number, includeUsage: boolean): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const event = (delta: Record<string, unknown>, finish: string | null = null, choices = true): Uint8Array => {
    const c: Record<string, unknown> = { id: a.id, object: "chat.completion.chunk", created: a.created, model: a.model };
    c.choices = choices ? [{ index: 0, delta, logprobs: null, finish_reason: finish }] : [];
    if (includeUsage) c.usage = choices ? null : usageFor(a, bytes);
    return encoder.encode(sse(c));
  };
  const size = Math.max(1, chunkBytes);
  const full = event({ content: filler(size) });
  let sent = 0;
  let stage: "role" | "content" | "finish" | "usage" | "done" | "closed" = "role";
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        switch (stage) {
          case "role":
            controller.enqueue(event({ role: "assistant", content: "" }));
            stage = bytes > 0 ? "content" : "finish";
            return;
          case "content": {
            const n = Math.min(size, bytes - sent);
            // A copy each time: a consumer may take ownership of the buffer it is handed.
            controller.enqueue(n === size ? full.slice() : event({ content: filler(n) }));
            sent += n;
            if (sent >= bytes) stage = "finish";
            return;
          }
          case "finish":
            controller.enqueue(event({}, "stop"));
            stage = includeUsage ? "usage" : "done";
            return;
          case "usage":
            controller.enqueue(event({}, null, false));
            stage = "done";
            return;
          case "done":
            controller.enqueue(encoder.encode(DONE));
            stage = "closed";
            return;
          case "closed":
            controller.close();
        }
      },
    },
    { highWaterMark: 0 },
  );
}
