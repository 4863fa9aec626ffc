import { failure, type UpstreamFailure } from "../core/failure";
import type { AttemptEnd, StreamObserver, Usage } from "../core/openai";
import { type SseSplitter, sseEvent } from "../core/sse";
import { normalizeUsage } from "../core/usage";
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
type Out = ReadableStreamDefaultController<Uint8Array>;

const encoder = new TextEncoder();

/**
 * Relays a committed SSE stream event by event: bytes go out as each upstream event completes,
 * never buffered beyond one event. The idle timer runs only while waiting on the upstream's next
 * read, so a slow client's backpressure never counts as upstream idleness (pull is only called
 * when the client wants more).
 */
export function relay(o: RelayOptions): { body: ReadableStream<Uint8Array>; end: Promise<AttemptEnd> } {
  const r = new Relay(o);
  const body = new ReadableStream<Uint8Array>(
    {
      start: (out) => {
        r.handle(out, o.initial);
      },
      // Loop until something went out: a read can yield only part of an event, or an event that
      // is dropped, and the runtime may not call pull again without an enqueue.
      pull: async (out) => {
        while (!r.finished && !(await r.readOnce(out))) {}
      },
      cancel: () => r.clientLeft(),
    },
    { highWaterMark: 0 },
  );
  return { body, end: r.end };
}

class Relay {
  finished = false;
  readonly end: Promise<AttemptEnd>;
  private settle!: (end: AttemptEnd) => void;
  private usage: Usage | null = null;
  private readonly clearTotal: () => void;

  constructor(private readonly o: RelayOptions) {
    this.end = new Promise<AttemptEnd>((resolve) => (this.settle = resolve));
    this.clearTotal = abortAfter(o.scope.controller, o.totalAt - Date.now(), ABORT.total);
  }

  /** Handles a batch of events; true when bytes went out or the stream is over. */
  handle(out: Out, events: string[]): boolean {
    let text = "";
    for (const event of events) {
      const verdict = this.judge(event);
      if (verdict.kind === "fail") {
        if (text) out.enqueue(encoder.encode(text));
        this.fail(out, verdict.failure);
        return true;
      }
      if (verdict.text !== null) text += verdict.text;
      if (verdict.kind === "done") {
        out.enqueue(encoder.encode(text));
        out.close();
        this.o.reader.cancel().catch(() => {});
        this.finish({ outcome: "success", failure: null });
        return true;
      }
    }
    if (!text) return false;
    out.enqueue(encoder.encode(text));
    return true;
  }

  /** One read from the upstream, under the idle timer; true when bytes went out or the stream is over. */
  async readOnce(out: Out): Promise<boolean> {
    const clearIdle = abortAfter(this.o.scope.controller, this.o.idleMs, ABORT.idle);
    try {
      const { done, value } = await this.o.reader.read();
      clearIdle();
      // The client may have cancelled while the read was pending.
      if (this.finished) return true;
      if (!done) return this.handle(out, this.o.splitter.push(value));
      this.fail(out, failure("malformed", "The upstream stream ended before [DONE]."));
    } catch {
      clearIdle();
      if (this.finished) return true;
      const f = this.o.scope.aborted();
      if (f.kind === "client_abort") {
        out.close();
        this.finish({ outcome: "client_abort", failure: f });
      } else {
        this.fail(out, f.kind === "connection" ? failure("connection", "The upstream connection was cut mid-stream.") : f);
      }
    }
    return true;
  }

  clientLeft(): void {
    this.o.scope.controller.abort(ABORT.client);
    this.finish({ outcome: "client_abort", failure: failure("client_abort", "The client went away.") });
  }

  private judge(event: string): Verdict {
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
        this.usage = normalizeUsage(e.chunk.usage) ?? this.usage;
        if (e.usageOnly) return { kind: "forward", text: this.o.clientWantsUsage ? event : null };
        this.o.observer?.onChunk(e.chunk);
        return { kind: "forward", text: event };
    }
  }

  /** Ends the client's stream with the SSE error event (DESIGN §6): the answer is incomplete. */
  private fail(out: Out, f: UpstreamFailure): void {
    const code = f.body?.error.code ?? (f.kind === "timeout" ? "upstream_timeout" : "upstream_error");
    out.enqueue(sseEvent({ error: { message: f.message, type: "upstream_error", code } }));
    out.close();
    this.finish({ outcome: "failure", failure: f });
  }

  private finish(result: Omit<AttemptEnd, "usage" | "completion">): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTotal();
    this.o.scope.release();
    if (!this.o.scope.controller.signal.aborted) this.o.scope.controller.abort(ABORT.finished);
    this.settle({ ...result, usage: this.usage, completion: null });
  }
}
