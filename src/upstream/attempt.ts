import type { Timeouts } from "../config/schema";
import { classifyStatus, failure } from "../core/failure";
import type { AttemptEnd, ChatCompletion, StreamObserver, UpstreamFetch } from "../core/openai";
import { SseSplitter } from "../core/sse";
import { choicesChars, normalizeUsage } from "../core/usage";
import { collect } from "./collect";
import { describeError } from "./error-response";
import { classifyEvent } from "./events";
import { relay } from "./relay";
import { type AttemptResult, AttemptScope } from "./scope";
import type { Rescue } from "./splice";

export interface AttemptOptions {
  fetch: UpstreamFetch;
  baseUrl: string;
  key: string;
  /** The request body for this model, serialised. */
  body: string;
  /** The upstream was asked for a stream. */
  stream: boolean;
  /** The upstream streams but the client asked for JSON: the gateway assembles the answer (DESIGN §12). */
  collect: boolean;
  clientWantsUsage: boolean;
  timeouts: Timeouts;
  /** The request's deadline for everything before commit (epoch ms). */
  deadlineAt: number;
  clientSignal: AbortSignal | undefined;
  requestId: string;
  observer?: StreamObserver;
  /** Continues a committed stream that breaks (DESIGN §15); null: it ends with the error event. */
  rescue: Rescue | null;
  maxContinuations: number;
  /** Scrubbed from any upstream text that reaches a client. */
  secrets: readonly string[];
}

/**
 * One upstream call, up to the moment of commit (DESIGN §2.6). A non-streamed answer commits
 * once its whole body is read and valid; a stream commits at its first data event that is not
 * an error. Anything before that is a failure value the chain may recover from.
 */
export async function attempt(o: AttemptOptions): Promise<AttemptResult> {
  if (o.clientSignal?.aborted) return { kind: "failed", failure: failure("client_abort", "The client went away.") };
  const started = Date.now();
  const scope = new AttemptScope(o.clientSignal, Math.min(o.timeouts.requestMs, o.deadlineAt - started), o.timeouts.streamIdleMs);
  let res: Response;
  try {
    res = await o.fetch(upstreamRequest(o, scope.signal));
  } catch {
    return scope.giveUp(scope.aborted());
  }
  try {
    if (classifyStatus(res.status) !== "success") return scope.giveUp(await describeError(res, o.secrets));
    return o.stream ? await commitStream(res, o, scope, started) : await commitJson(res, scope);
  } catch {
    return scope.giveUp(scope.aborted());
  }
}

function upstreamRequest(o: AttemptOptions, signal: AbortSignal): Request {
  return new Request(`${o.baseUrl}/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${o.key}`,
      "content-type": "application/json",
      accept: o.stream ? "text/event-stream" : "application/json",
      "x-request-id": o.requestId,
    },
    body: o.body,
    signal,
  });
}

/** The JSON half: the whole body must arrive and parse before anything is committed. */
async function commitJson(res: Response, scope: AttemptScope): Promise<AttemptResult> {
  const text = await res.text();
  let completion: ChatCompletion;
  try {
    completion = JSON.parse(text);
  } catch {
    return scope.giveUp(failure("malformed", "The upstream sent a malformed response body."));
  }
  if (typeof completion !== "object" || completion === null || !Array.isArray(completion.choices)) {
    return scope.giveUp(failure("malformed", "The upstream response has no choices."));
  }
  scope.commit();
  scope.release();
  const usage = normalizeUsage(completion.usage);
  const completionChars = choicesChars(completion.choices, "message");
  const end: AttemptEnd = {
    outcome: "success",
    failure: null,
    usage,
    completion,
    cacheable: true,
    droppedEvents: 0,
    completionChars,
  };
  return {
    kind: "committed",
    body: text,
    contentType: "application/json",
    end: Promise.resolve(end),
    firstTokenMs: scope.firstTokenMs,
    closed: Promise.resolve(),
  };
}

/** The stream half: read up to the first data event, which decides commit, then relay. */
async function commitStream(res: Response, o: AttemptOptions, scope: AttemptScope, started: number): Promise<AttemptResult> {
  if (res.body === null) return scope.giveUp(failure("malformed", "The upstream sent an empty stream."));
  const reader = res.body.getReader();
  const splitter = new SseSplitter();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return scope.giveUp(failure("malformed", "The upstream stream ended before its first event."));
    const events = splitter.push(value);
    const verdicts = events.map(classifyEvent);
    const first = verdicts.findIndex((v) => v.kind !== "meta");
    const verdict = verdicts[first];
    if (verdict === undefined) continue;
    if (verdict.kind !== "chunk") {
      reader.cancel().catch(() => {});
      const what = verdict.kind === "error" ? "an error event" : "a malformed stream event";
      return scope.giveUp(failure("malformed", `The upstream stream began with ${what}.`));
    }
    // The first token: the health signal, and the end of `requestMs` (and of the deadline).
    scope.commit();
    const stream = { reader, splitter, initial: events.slice(first) };
    if (o.collect) return collect(stream, o.timeouts, scope, started);
    const { body, end, closed } = relay({
      ...stream,
      scope,
      idleMs: o.timeouts.streamIdleMs,
      totalMs: o.timeouts.streamTotalMs,
      waitedMs: Date.now() - started,
      wallAt: started + o.timeouts.streamWallMs,
      clientWantsUsage: o.clientWantsUsage,
      observer: o.observer,
      rescue: o.rescue,
      maxContinuations: o.maxContinuations,
    });
    const contentType = "text/event-stream; charset=utf-8";
    return { kind: "committed", body, contentType, end, firstTokenMs: scope.firstTokenMs, closed };
  }
}
