import { failure, type UpstreamFailure } from "../core/failure";
import type { AttemptEnd, ChatCompletionChunk, Usage } from "../core/openai";
import { SSE_DONE, SseSplitter, sseEvent } from "../core/sse";
import { choicesChars, normalizeUsage } from "../core/usage";
import { ABORT, abortAfter, abortKind } from "./abort";
import { classifyEvent, FinishTracker } from "./events";
import type { Out, RelayOptions, Source, Verdict } from "./relay-options";
import { type BreakKind, type Continuation, RelayedText, Splicer } from "./splice";

const encoder = new TextEncoder();
const cutMidStream = () => failure("connection", "The upstream connection was cut mid-stream.");

/**
 * Relays a committed SSE stream event by event: bytes go out as each upstream event completes,
 * never buffered beyond one event. Time is attributed to whoever holds the stream (DESIGN §12):
 * the idle and total timers run only while a read from the upstream is pending; the wall-clock
 * cap ends a stream the client holds as `client_slow`. A stream that breaks is continued by
 * `rescue` when it can be (DESIGN §15): the continuation is spliced into the same client stream.
 */
export function relay(o: RelayOptions): {
  body: ReadableStream<Uint8Array>;
  end: Promise<AttemptEnd>;
  closed: Promise<void>;
} {
  const r = new Relay(o);
  const body = new ReadableStream<Uint8Array>(
    {
      start: (out) => r.open(out),
      // Loop until something went out: a read can yield only part of an event, or an event that
      // is dropped, and the runtime may not call pull again without an enqueue.
      pull: async (out) => {
        while (!r.closed && !(await r.readOnce(out))) {}
      },
      cancel: () => r.clientLeft(),
    },
    { highWaterMark: 0 },
  );
  return { body, end: r.end, closed: r.closedOnce };
}

class Relay {
  /** The client's stream is over. */
  closed = false;
  readonly end: Promise<AttemptEnd>;
  private resolveEnd!: (end: AttemptEnd) => void;
  /** The client's stream is over, continuations included: the request's reservation may go back. */
  readonly closedOnce: Promise<void>;
  private resolveClosed!: () => void;
  /** This attempt's outcome is known (the client's stream may go on, continued). */
  private settled = false;
  private usage: Usage | null = null;
  private cacheable = true;
  private droppedEvents = 0;
  private completionChars = 0;
  private readonly finishes = new FinishTracker();
  private waitedMs: number;
  private reading = false;
  private wallTimer: ReturnType<typeof setTimeout> | undefined;
  /** `streamWallMs` is up: nothing more is continued. */
  private wallHit = false;
  private source: Source;
  private readonly relayed = new RelayedText();
  private splicer: Splicer | null = null;
  private original: UpstreamFailure | null = null;
  private continuations = 0;

  constructor(private readonly o: RelayOptions) {
    this.end = new Promise<AttemptEnd>((resolve) => (this.resolveEnd = resolve));
    this.closedOnce = new Promise<void>((resolve) => (this.resolveClosed = resolve));
    this.waitedMs = o.waitedMs;
    this.source = { reader: o.reader, splitter: o.splitter, timed: true };
  }

  async open(out: Out): Promise<void> {
    this.wallTimer = setTimeout(() => this.wallReached(out), Math.max(0, this.o.wallAt - Date.now()));
    await this.process(out, this.o.initial);
  }

  /** One read from the current source; true when bytes went out or the stream is over. */
  async readOnce(out: Out): Promise<boolean> {
    const { reader, splitter, timed } = this.source;
    const disarm = timed ? this.armTimers() : () => {};
    const started = Date.now();
    this.reading = true;
    let read: ReadableStreamReadResult<Uint8Array> | null;
    try {
      read = await reader.read();
    } catch {
      read = null;
    } finally {
      this.reading = false;
      if (timed) this.waitedMs += Date.now() - started;
      disarm();
    }
    if (read === null) return this.closed || (await this.readFailed(out, timed));
    if (this.closed) return true;
    if (!read.done) return this.process(out, splitter.push(read.value));
    if (!timed || !this.finishes.complete)
      return this.broke(out, failure("malformed", "The upstream stream ended before [DONE]."), "cut");
    this.complete(out, "", SSE_DONE);
    return true;
  }

  clientLeft(): void {
    this.closed = true;
    clearTimeout(this.wallTimer);
    this.resolveClosed();
    this.o.scope.controller.abort(ABORT.client);
    if (!this.source.timed) this.source.reader.cancel().catch(() => {});
    this.settle({ outcome: "client_abort", failure: failure("client_abort", "The client went away.") });
  }

  /** The idle timer, or the rest of `streamTotalMs` when that is shorter. */
  private armTimers(): () => void {
    const left = this.o.totalMs - this.waitedMs;
    const idle = this.o.idleMs <= left;
    return abortAfter(this.o.scope.controller, idle ? this.o.idleMs : left, idle ? ABORT.idle : ABORT.total);
  }

  private async readFailed(out: Out, timed: boolean): Promise<boolean> {
    if (!timed) return this.broke(out, cutMidStream(), "cut");
    const kind = abortKind(this.o.scope.controller.signal);
    if (kind === "client") {
      this.clientLeft();
      return true;
    }
    const f = this.o.scope.aborted();
    const after: BreakKind = kind === "idle" ? "idle" : kind === "total" ? "timeout" : "cut";
    return this.broke(out, f.kind === "connection" ? cutMidStream() : f, after);
  }

  /** Handles a batch of events; true when bytes went out or the stream is over. */
  private async process(out: Out, events: string[]): Promise<boolean> {
    let text = "";
    for (const event of events) {
      const verdict = this.judgeSafely(event);
      if (verdict.kind === "fail") {
        if (text) out.enqueue(encoder.encode(text));
        return (await this.broke(out, verdict.failure, verdict.after)) || text !== "";
      }
      if (verdict.kind === "done") {
        this.complete(out, text, verdict.text);
        return true;
      }
      if (verdict.text) text += verdict.text;
    }
    if (!text) return false;
    out.enqueue(encoder.encode(text));
    return true;
  }

  /** No event, however odd, may end a healthy stream by making the relay throw (DESIGN §12). */
  private judgeSafely(event: string): Verdict {
    try {
      return this.judge(event);
    } catch {
      this.droppedEvents++;
      this.cacheable = false;
      return { kind: "forward", text: null };
    }
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
        return { kind: "fail", failure: failure("malformed", message, { body }), after: "error_event" };
      }
      case "chunk":
        this.relayed.see(e.chunk);
        if (this.splicer) return { kind: "forward", text: this.splicer.chunk(e.chunk) };
        this.finishes.see(e.chunk);
        this.completionChars += choicesChars(e.chunk.choices, "delta");
        this.usage = normalizeUsage(e.chunk.usage) ?? this.usage;
        if (e.usageOnly) return { kind: "forward", text: this.o.clientWantsUsage ? event : null };
        this.observe(e.chunk);
        return { kind: "forward", text: event };
    }
  }

  /** An observer (the cache's assembler) that throws costs the answer its cache entry, never the stream. */
  private observe(chunk: ChatCompletionChunk): void {
    try {
      this.o.observer?.onChunk(chunk);
    } catch {
      this.cacheable = false;
    }
  }

  private complete(out: Out, text: string, doneEvent: string): void {
    const tail = this.splicer ? this.splicer.done(doneEvent) : encoder.encode(doneEvent);
    if (text) out.enqueue(encoder.encode(text));
    out.enqueue(tail);
    this.close(out);
    this.settle({ outcome: "success", failure: null });
  }

  /**
   * The stream broke: this attempt failed; the client's answer is continued if a step can, else
   * ends in the error event. False when nothing went out yet (a continuation is spliced in).
   */
  private async broke(out: Out, f: UpstreamFailure, after: BreakKind): Promise<boolean> {
    this.original ??= f;
    this.settle({ outcome: "failure", failure: f });
    const next = await this.rescue(after);
    if (this.closed || (next && this.wallHit)) {
      await next?.body.cancel().catch(() => {});
      if (!this.closed) this.endWith(out, this.original);
      return true;
    }
    if (next) return this.splice(out, next, after);
    // The original failure's event, never a later continuation's (DESIGN §15).
    this.endWith(out, this.original);
    return true;
  }

  /** Ends the client's stream with the SSE error event of `f` (DESIGN §6): the answer is incomplete. */
  private endWith(out: Out, f: UpstreamFailure): void {
    if (this.splicer) out.enqueue(encoder.encode(this.splicer.flush()));
    const code = f.body?.error.code ?? (f.kind === "timeout" ? "upstream_timeout" : "upstream_error");
    out.enqueue(sseEvent({ error: { message: f.message, type: "upstream_error", code } }));
    this.close(out);
  }

  private rescue(after: BreakKind): Promise<Continuation | null> {
    const { rescue, maxContinuations } = this.o;
    if (!rescue || this.wallHit || !this.relayed.continuable || this.continuations >= maxContinuations) {
      return Promise.resolve(null);
    }
    return rescue({ text: this.relayed.text, after }).catch(() => null);
  }

  /** Splices `next` in; true when a held chunk of an earlier continuation went out. */
  private splice(out: Out, next: Continuation, after: BreakKind): boolean {
    this.continuations++;
    const held = this.splicer?.flush() ?? "";
    if (held) out.enqueue(encoder.encode(held));
    this.source.reader.cancel().catch(() => {});
    this.source = { reader: next.body.getReader(), splitter: new SseSplitter(), timed: false };
    const first = this.relayed.first ?? { id: "", created: 0, model: "" };
    const completionTokens = this.usage?.completion_tokens ?? Math.ceil(this.relayed.text.length / 4);
    this.splicer = new Splicer({ ...first, completionTokens }, { continued: true, by: next.by, provider: next.provider, after });
    return held !== "";
  }

  /**
   * `streamWallMs` is up: the stream's life ends, continuations included. The model's fault if
   * the first part was being waited on (not continued), else the client's (`client_too_slow`).
   */
  private wallReached(out: Out): void {
    if (this.closed) return;
    this.wallHit = true;
    if (this.reading && this.source.timed) {
      this.o.scope.controller.abort(ABORT.total);
      return;
    }
    this.settle({ outcome: "client_slow", failure: null });
    if (this.reading && this.original) {
      this.endWith(out, this.original);
      return;
    }
    const message = "The stream outlived its time limit while the client was not reading it.";
    out.enqueue(sseEvent({ error: { message, type: "invalid_request_error", code: "client_too_slow" } }));
    this.close(out);
  }

  private close(out: Out): void {
    this.closed = true;
    clearTimeout(this.wallTimer);
    this.resolveClosed();
    out.close();
    this.source.reader.cancel().catch(() => {});
  }

  /** This attempt's end, once: the breaker, usage and cache hear it; the client's stream may go on. */
  private settle(result: Pick<AttemptEnd, "outcome" | "failure">): void {
    if (this.settled) return;
    this.settled = true;
    this.o.scope.release();
    if (!this.o.scope.controller.signal.aborted) this.o.scope.controller.abort(ABORT.finished);
    const { usage, cacheable, droppedEvents, completionChars } = this;
    this.resolveEnd({ ...result, usage, completion: null, cacheable, droppedEvents, completionChars });
  }
}
