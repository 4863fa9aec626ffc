import { failure, type UpstreamFailure } from "../core/failure";
import type { AttemptEnd, StreamObserver, Usage } from "../core/openai";
import { SSE_DONE, type SseSplitter, sseEvent } from "../core/sse";
import { choicesChars, normalizeUsage } from "../core/usage";
import { ABORT, abortAfter } from "./abort";
import { classifyEvent, FinishTracker } from "./events";
import type { AttemptScope } from "./scope";

export interface RelayOptions {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  splitter: SseSplitter;
  /** Events already read before commit, the first data event among them. */
  initial: string[];
  scope: AttemptScope;
  idleMs: number;
  /** Upstream waiting allowed in all (`streamTotalMs`), and how much of it commit already took. */
  totalMs: number;
  waitedMs: number;
  /** When the stream's wall-clock life ends (`streamWallMs` from the attempt's start, epoch ms). */
  wallAt: number;
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
 * never buffered beyond one event. Time is attributed to whoever holds the stream (DESIGN §12):
 * the idle and total timers run only while a read from the upstream is pending, so a slow
 * client's backpressure never counts against the model; the wall-clock cap ends a stream the
 * client holds as `client_slow`, no failure.
 */
export function relay(o: RelayOptions): { body: ReadableStream<Uint8Array>; end: Promise<AttemptEnd> } {
  const r = new Relay(o);
  const body = new ReadableStream<Uint8Array>(
    {
      start: (out) => {
        r.open(out);
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
  private cacheable = true;
  private droppedEvents = 0;
  private completionChars = 0;
  private readonly finishes = new FinishTracker();
  private waitedMs: number;
  private reading = false;
  private wallTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly o: RelayOptions) {
    this.end = new Promise<AttemptEnd>((resolve) => (this.settle = resolve));
    this.waitedMs = o.waitedMs;
  }

  open(out: Out): void {
    this.wallTimer = setTimeout(() => this.wallReached(out), Math.max(0, this.o.wallAt - Date.now()));
    this.handle(out, this.o.initial);
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
        this.complete(out, text);
        return true;
      }
    }
    if (!text) return false;
    out.enqueue(encoder.encode(text));
    return true;
  }

  /** One read from the upstream under its idle and total timers; true when bytes went out or the stream is over. */
  async readOnce(out: Out): Promise<boolean> {
    const left = this.o.totalMs - this.waitedMs;
    const clearTimer = abortAfter(
      this.o.scope.controller,
      Math.min(this.o.idleMs, left),
      this.o.idleMs <= left ? ABORT.idle : ABORT.total,
    );
    const started = Date.now();
    this.reading = true;
    try {
      const { done, value } = await this.o.reader.read();
      // The client may have cancelled while the read was pending.
      if (this.finished) return true;
      if (!done) return this.handle(out, this.o.splitter.push(value));
      if (this.finishes.complete) this.complete(out, SSE_DONE);
      else this.fail(out, failure("malformed", "The upstream stream ended before [DONE]."));
    } catch {
      if (this.finished) return true;
      const f = this.o.scope.aborted();
      if (f.kind === "client_abort") this.clientLeft();
      else this.fail(out, f.kind === "connection" ? failure("connection", "The upstream connection was cut mid-stream.") : f);
    } finally {
      this.reading = false;
      this.waitedMs += Date.now() - started;
      clearTimer();
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
        // The client's SDK would choke on it; the answer goes on without it (DESIGN §12).
        this.droppedEvents++;
        this.cacheable = false;
        return { kind: "forward", text: null };
      case "odd":
        this.cacheable = false;
        return { kind: "forward", text: event };
      case "error": {
        const message = "The upstream reported an error mid-stream.";
        const body = { error: { message, type: "upstream_error", code: e.code, param: null } };
        return { kind: "fail", failure: failure("malformed", message, { body }) };
      }
      case "chunk":
        this.finishes.see(e.chunk);
        this.usage = normalizeUsage(e.chunk.usage) ?? this.usage;
        if (e.usageOnly) return { kind: "forward", text: this.o.clientWantsUsage ? event : null };
        this.observe(e.chunk);
        this.completionChars += choicesChars(e.chunk.choices, "delta");
        return { kind: "forward", text: event };
    }
  }

  /** An observer (the cache's assembler) that throws costs the answer its cache entry, never the stream. */
  private observe(chunk: Parameters<StreamObserver["onChunk"]>[0]): void {
    try {
      this.o.observer?.onChunk(chunk);
    } catch {
      this.cacheable = false;
    }
  }

  private complete(out: Out, text: string): void {
    out.enqueue(encoder.encode(text));
    out.close();
    this.o.reader.cancel().catch(() => {});
    this.finish({ outcome: "success", failure: null });
  }

  /** Ends the client's stream with the SSE error event (DESIGN §6): the answer is incomplete. */
  private fail(out: Out, f: UpstreamFailure): void {
    const code = f.body?.error.code ?? (f.kind === "timeout" ? "upstream_timeout" : "upstream_error");
    out.enqueue(sseEvent({ error: { message: f.message, type: "upstream_error", code } }));
    out.close();
    this.finish({ outcome: "failure", failure: f });
  }

  /** `streamWallMs` is up: the model's fault if it was being waited on, else the client's. */
  private wallReached(out: Out): void {
    if (this.finished) return;
    if (this.reading) {
      this.o.scope.controller.abort(ABORT.total);
      return;
    }
    const message = "The stream outlived its time limit while the client was not reading it.";
    out.enqueue(sseEvent({ error: { message, type: "invalid_request_error", code: "client_too_slow" } }));
    out.close();
    this.o.reader.cancel().catch(() => {});
    this.finish({ outcome: "client_slow", failure: null });
  }

  private finish(result: Pick<AttemptEnd, "outcome" | "failure">): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.wallTimer);
    this.o.scope.release();
    if (!this.o.scope.controller.signal.aborted) this.o.scope.controller.abort(ABORT.finished);
    const { usage, cacheable, droppedEvents, completionChars } = this;
    this.settle({ ...result, usage, completion: null, cacheable, droppedEvents, completionChars });
  }
}
