import { failure, type UpstreamFailure } from "../core/failure";
import type { AttemptEnd, StreamObserver, Usage } from "../core/openai";
import { type SseSplitter, sseEvent } from "../core/sse";
import { ABORT, abortAfter } from "./abort";
import { classifyEvent } from "./events";
import type { AttemptScope } from "./scope";

export interface RelayOptions {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  splitter: SseSplitter;
  /** Events already read before commit, the first data event among them. */
  initial: string[];
  scope: AttemptScope;
  idleMs: number;
  totalAt: number;
  clientWantsUsage: boolean;
  observer: StreamObserver | undefined;
}

/** What one event does to the stream: bytes to send (null: dropped), the end, or a failure. */
type Verdict =
  | { kind: "forward"; text: string | null }
  | { kind: "done"; text: string }
  | { kind: "fail"; failure: UpstreamFailure };

const encoder = new TextEncoder();
const clientGone = () => failure("client_abort", "The client went away.");

/**
 * Relays a committed SSE stream event by event: bytes go out as each upstream event completes,
 * never buffered beyond one event. The idle timer runs only while waiting on the upstream's next
 * read, so a slow client's backpressure never counts as upstream idleness (pull is only called
 * when the client wants more).
 */
export function relay(o: RelayOptions): { body: ReadableStream<Uint8Array>; end: Promise<AttemptEnd> } {
  const { controller } = o.scope;
  let usage: Usage | null = null;
  let settle!: (end: AttemptEnd) => void;
  const end = new Promise<AttemptEnd>((resolve) => (settle = resolve));
  const clearTotal = abortAfter(controller, o.totalAt - Date.now(), ABORT.total);
  let finished = false;

  const finish = (result: Omit<AttemptEnd, "usage" | "completion">) => {
    if (finished) return;
    finished = true;
    clearTotal();
    o.scope.release();
    if (!controller.signal.aborted) controller.abort(ABORT.finished);
    settle({ ...result, usage, completion: null });
  };

  const judge = (event: string): Verdict => {
    const e = classifyEvent(event);
    switch (e.kind) {
      case "meta":
        return { kind: "forward", text: event };
      case "done":
        return { kind: "done", text: event };
      case "malformed":
        return { kind: "fail", failure: failure("malformed", "The upstream sent a malformed stream event.") };
      case "error": {
        const message = "The upstream reported an error mid-stream.";
        const body = { error: { message, type: "upstream_error", code: e.code, param: null } };
        return { kind: "fail", failure: failure("malformed", message, { body }) };
      }
      case "chunk":
        if (e.chunk.usage) usage = e.chunk.usage;
        if (e.usageOnly) return { kind: "forward", text: o.clientWantsUsage ? event : null };
        o.observer?.onChunk(e.chunk);
        return { kind: "forward", text: event };
    }
  };

  const failStream = (out: ReadableStreamDefaultController<Uint8Array>, f: UpstreamFailure) => {
    const code = f.body?.error.code ?? (f.kind === "timeout" ? "upstream_timeout" : "upstream_error");
    out.enqueue(sseEvent({ error: { message: f.message, type: "upstream_error", code } }));
    out.close();
    finish({ outcome: "failure", failure: f });
  };

  /** Handles a batch of events; true when bytes went out or the stream is over. */
  const handle = (out: ReadableStreamDefaultController<Uint8Array>, events: string[]): boolean => {
    let text = "";
    for (const event of events) {
      const verdict = judge(event);
      if (verdict.kind === "fail") {
        if (text) out.enqueue(encoder.encode(text));
        failStream(out, verdict.failure);
        return true;
      }
      if (verdict.text !== null) text += verdict.text;
      if (verdict.kind === "done") {
        out.enqueue(encoder.encode(text));
        out.close();
        o.reader.cancel().catch(() => {});
        finish({ outcome: "success", failure: null });
        return true;
      }
    }
    if (!text) return false;
    out.enqueue(encoder.encode(text));
    return true;
  };

  /** One read from the upstream, under the idle timer; true when bytes went out or the stream is over. */
  const readOnce = async (out: ReadableStreamDefaultController<Uint8Array>): Promise<boolean> => {
    const clearIdle = abortAfter(controller, o.idleMs, ABORT.idle);
    try {
      const { done, value } = await o.reader.read();
      clearIdle();
      // The client may have cancelled while the read was pending.
      if (finished) return true;
      if (!done) return handle(out, o.splitter.push(value));
      failStream(out, failure("malformed", "The upstream stream ended before [DONE]."));
    } catch {
      clearIdle();
      if (finished) return true;
      const f = o.scope.aborted();
      if (f.kind !== "client_abort") failStream(out, f.kind === "connection" ? cutMidStream() : f);
      else {
        out.close();
        finish({ outcome: "client_abort", failure: f });
      }
    }
    return true;
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(out) {
        handle(out, o.initial);
      },
      async pull(out) {
        // Loop until something went out: a read can yield only part of an event, or an event
        // that is dropped, and the runtime may not call pull again without an enqueue.
        while (!finished && !(await readOnce(out))) {}
      },
      cancel() {
        controller.abort(ABORT.client);
        finish({ outcome: "client_abort", failure: clientGone() });
      },
    },
    { highWaterMark: 0 },
  );
  return { body, end };
}

const cutMidStream = () => failure("connection", "The upstream connection was cut mid-stream.");
