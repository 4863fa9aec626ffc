import { CompletionAssembler } from "../core/assemble";
import { failure, type UpstreamFailure } from "../core/failure";
import type { AttemptEnd, Usage } from "../core/openai";
import type { SseSplitter } from "../core/sse";
import { choicesChars, normalizeUsage } from "../core/usage";
import { ABORT, abortAfter } from "./abort";
import { classifyEvent } from "./events";
import type { AttemptResult, AttemptScope } from "./scope";

interface OpenStream {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  splitter: SseSplitter;
  /** Events already read, the first data event among them. */
  initial: string[];
}

/** What the events read so far add up to. */
interface Collected {
  assembler: CompletionAssembler;
  usage: Usage | null;
  droppedEvents: number;
  cacheable: boolean;
  completionChars: number;
}

/** Takes in a batch of events; "done" at `[DONE]`, "error" at an error event. */
function take(c: Collected, events: string[]): "more" | "done" | "error" {
  for (const event of events) {
    const e = classifyEvent(event);
    if (e.kind === "done") return "done";
    if (e.kind === "error") return "error";
    if (e.kind === "malformed") c.droppedEvents++;
    if (e.kind === "malformed" || e.kind === "odd") c.cacheable = false;
    if (e.kind !== "chunk") continue;
    c.usage = normalizeUsage(e.chunk.usage) ?? c.usage;
    c.assembler.add(e.chunk);
    c.completionChars += choicesChars(e.chunk.choices, "delta");
  }
  return "more";
}

/**
 * The stream of an answer whose client asked for JSON, read to its end and assembled into the
 * `chat.completion` the upstream's JSON would have been (DESIGN §12). Nothing is committed before
 * the last byte, so any failure on the way is one the chain recovers from. The wait is all the
 * model's: `streamIdleMs` per read, `streamTotalMs` in all.
 */
export async function collect(
  stream: OpenStream,
  timeouts: { streamIdleMs: number; streamTotalMs: number },
  scope: AttemptScope,
  started: number,
): Promise<AttemptResult> {
  const c: Collected = {
    assembler: new CompletionAssembler(),
    usage: null,
    droppedEvents: 0,
    cacheable: true,
    completionChars: 0,
  };
  // What was generated before a failure still cost something (DESIGN §13).
  const giveUp = (f: UpstreamFailure) => ({ ...scope.giveUp(f), completionChars: c.completionChars });
  const clearTotal = abortAfter(scope.controller, timeouts.streamTotalMs - (Date.now() - started), ABORT.total);
  try {
    let state = take(c, stream.initial);
    while (state === "more") {
      const clearIdle = abortAfter(scope.controller, timeouts.streamIdleMs, ABORT.idle);
      const { done, value } = await stream.reader.read().finally(clearIdle);
      if (done) break;
      state = take(c, stream.splitter.push(value));
    }
    if (state === "error") return giveUp(failure("malformed", "The upstream reported an error mid-stream."));
    // A stream that closed without `[DONE]` is whole once every choice has finished.
    const completion = c.assembler.result(c.usage);
    if (completion === null) return giveUp(failure("malformed", "The upstream stream ended before [DONE]."));
    stream.reader.cancel().catch(() => {});
    scope.release();
    const { usage, cacheable, droppedEvents, completionChars } = c;
    const end: AttemptEnd = { outcome: "success", failure: null, usage, completion, cacheable, droppedEvents, completionChars };
    return {
      kind: "committed",
      body: JSON.stringify(completion),
      contentType: "application/json",
      end: Promise.resolve(end),
      firstTokenMs: scope.firstTokenMs,
      closed: Promise.resolve(),
    };
  } catch {
    return giveUp(scope.aborted());
  } finally {
    clearTotal();
  }
}
