import { failure, type UpstreamFailure } from "../core/failure";
import type { AttemptEnd, ChatCompletionChunk, StreamObserver, Usage } from "../core/openai";
import { eventData, type SseSplitter, sseEvent } from "../core/sse";
import { normalizeUsage } from "../core/usage";
import { ABORT, abortAfter, abortKind } from "./abort";

export interface RelayOptions {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  splitter: SseSplitter;
  /** Events already read before commit, the first data event among them. */
  initial: string[];
  controller: AbortController;
  idleMs: number;
  totalAt: number;
  clientWantsUsage: boolean;
  observer: StreamObserver | undefined;
  /** Detaches the client-signal listener once the attempt is over. */
  release: () => void;
}

type Verdict =
  | { kind: "forward"; text: string | null }
  | { kind: "done"; text: string }
  | { kind: "fail"; failure: UpstreamFailure };

const encoder = new TextEncoder();

function isUsageOnly(chunk: ChatCompletionChunk): boolean {
  return Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage != null;
}

/**
 * Relays a committed SSE stream event by event: bytes go out as each upstream event completes,
 * never buffered beyond one event. The idle timer runs only while waiting on the upstream's next
 * read, so a slow client's backpressure never counts as upstream idleness (pull is only called
 * when the client wants more).
 */
export function relay(o: RelayOptions): { body: ReadableStream<Uint8Array>; end: Promise<AttemptEnd> } {
  let usage: Usage | null = null;
  let settle!: (end: AttemptEnd) => void;
  const end = new Promise<AttemptEnd>((resolve) => (settle = resolve));
  const clearTotal = abortAfter(o.controller, o.totalAt - Date.now(), ABORT.total);
  let finished = false;

  const finish = (result: Omit<AttemptEnd, "usage" | "completion">) => {
    if (finished) return;
    finished = true;
    clearTotal();
    o.release();
    if (!o.controller.signal.aborted) o.controller.abort(ABORT.finished);
    settle({ ...result, usage, completion: null });
  };

  const judge = (event: string): Verdict => {
    const data = eventData(event);
    if (data === null) return { kind: "forward", text: event };
    if (data.trim() === "[DONE]") return { kind: "done", text: event };
    let chunk: ChatCompletionChunk & { error?: { message?: string; code?: string } };
    try {
      chunk = JSON.parse(data);
    } catch {
      return { kind: "fail", failure: failure("malformed", "The upstream sent a malformed stream event.") };
    }
    if (chunk.error) {
      const code = typeof chunk.error.code === "string" ? chunk.error.code : "upstream_error";
      return {
        kind: "fail",
        failure: failure("malformed", "The upstream reported an error mid-stream.", {
          body: { error: { message: "The upstream reported an error mid-stream.", type: "upstream_error", code, param: null } },
        }),
      };
    }
    usage = normalizeUsage(chunk.usage) ?? usage;
    if (isUsageOnly(chunk)) return { kind: "forward", text: o.clientWantsUsage ? event : null };
    o.observer?.onChunk(chunk);
    return { kind: "forward", text: event };
  };

  const failStream = (controller: ReadableStreamDefaultController<Uint8Array>, f: UpstreamFailure) => {
    const code = f.body?.error.code ?? (f.kind === "timeout" ? "upstream_timeout" : "upstream_error");
    controller.enqueue(sseEvent({ error: { message: f.message, type: "upstream_error", code } }));
    controller.close();
    finish({ outcome: "failure", failure: f });
  };

  /** Handles a batch of events; true when bytes went out or the stream is over. */
  const handle = (controller: ReadableStreamDefaultController<Uint8Array>, events: string[]): boolean => {
    let out = "";
    for (const event of events) {
      const verdict = judge(event);
      if (verdict.kind === "fail") {
        if (out) controller.enqueue(encoder.encode(out));
        failStream(controller, verdict.failure);
        return true;
      }
      if (verdict.text !== null) out += verdict.text;
      if (verdict.kind === "done") {
        controller.enqueue(encoder.encode(out));
        controller.close();
        o.reader.cancel().catch(() => {});
        finish({ outcome: "success", failure: null });
        return true;
      }
    }
    if (!out) return false;
    controller.enqueue(encoder.encode(out));
    return true;
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        handle(controller, o.initial);
      },
      async pull(controller) {
        // Loop until something went out: a read can yield only part of an event, or an event
        // that is dropped, and the runtime may not call pull again without an enqueue.
        let sent = false;
        while (!finished && !sent) {
          const clearIdle = abortAfter(o.controller, o.idleMs, ABORT.idle);
          try {
            const { done, value } = await o.reader.read();
            clearIdle();
            // The client may have cancelled while the read was pending.
            if (finished) return;
            if (done) {
              failStream(controller, failure("malformed", "The upstream stream ended before [DONE]."));
              return;
            }
            sent = handle(controller, o.splitter.push(value));
          } catch {
            clearIdle();
            if (finished) return;
            const kind = abortKind(o.controller.signal);
            if (kind === "client") {
              controller.close();
              finish({ outcome: "client_abort", failure: failure("client_abort", "The client went away.") });
            } else if (kind === "idle") {
              failStream(controller, failure("timeout", `The upstream stream was idle for ${o.idleMs} ms.`));
            } else if (kind === "total") {
              failStream(controller, failure("timeout", "The upstream stream exceeded its total time."));
            } else {
              failStream(controller, failure("connection", "The upstream connection was cut mid-stream."));
            }
          }
        }
      },
      cancel() {
        o.controller.abort(ABORT.client);
        finish({ outcome: "client_abort", failure: failure("client_abort", "The client went away.") });
      },
    },
    { highWaterMark: 0 },
  );
  return { body, end };
}
