import type { Timeouts } from "../config/schema";
import type { OpenAIErrorBody } from "../core/errors";
import { classifyStatus, failure, type UpstreamFailure } from "../core/failure";
import type { AttemptEnd, ChatCompletion, StreamObserver, UpstreamFetch } from "../core/openai";
import { parseRetryAfter } from "../core/retry-after";
import { eventData, SseSplitter } from "../core/sse";
import { normalizeUsage } from "../core/usage";
import { ABORT, abortAfter, abortKind } from "./abort";
import { relay } from "./relay";

export interface AttemptOptions {
  fetch: UpstreamFetch;
  baseUrl: string;
  key: string;
  /** The body for this model, already serialised once for the whole chain step. */
  body: string;
  stream: boolean;
  clientWantsUsage: boolean;
  timeouts: Timeouts;
  /** The request's deadline for everything before commit (epoch ms). */
  deadlineAt: number;
  clientSignal: AbortSignal | undefined;
  requestId: string;
  observer?: StreamObserver;
  /** Scrubbed from any upstream text that reaches a client. */
  secrets: readonly string[];
}

export type AttemptResult =
  | { kind: "committed"; body: ReadableStream<Uint8Array> | string; contentType: string; end: Promise<AttemptEnd> }
  | { kind: "failed"; failure: UpstreamFailure };

function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("[redacted]");
  return out;
}

async function describeError(res: Response, o: AttemptOptions): Promise<UpstreamFailure> {
  const status = res.status;
  const cls = classifyStatus(status);
  const retryAfterMs = parseRetryAfter(res.headers, Date.now());
  const text = await res.text().catch(() => "");
  if (cls === "auth") {
    // Auth errors can echo key fragments; their text never travels further.
    return failure("auth", `The upstream refused the gateway's key (${status}).`, { status });
  }
  if (cls === "rate_limited")
    return failure("rate_limited", "The upstream is rate limiting this model.", { status, retryAfterMs });
  if (cls === "client_error") {
    let body: OpenAIErrorBody | null = null;
    try {
      const parsed = JSON.parse(text) as Partial<OpenAIErrorBody>;
      if (parsed.error && typeof parsed.error.message === "string") {
        const text = (v: unknown) => (typeof v === "string" ? redact(v, o.secrets) : null);
        body = {
          error: {
            message: redact(parsed.error.message, o.secrets),
            type: text(parsed.error.type) ?? "invalid_request_error",
            code: text(parsed.error.code),
            param: text(parsed.error.param),
          },
        };
      }
    } catch {
      // Not JSON: the caller still gets the status with a generic message.
    }
    const message = body?.error.message ?? `The upstream rejected the request (${status}).`;
    return failure("client_error", message, { status, body });
  }
  return failure("server_error", `The upstream answered ${status}.`, { status, retryAfterMs });
}

function abortedFailure(signal: AbortSignal, what: string): UpstreamFailure {
  const kind = abortKind(signal);
  if (kind === "client") return failure("client_abort", "The client went away.");
  if (kind === "timeout") return failure("timeout", `The upstream did not ${what} in time.`);
  return failure("connection", "The upstream connection failed.");
}

/**
 * One upstream call, up to the moment of commit (DESIGN §2.6). A non-streamed answer commits
 * once its whole body is read and valid; a stream commits at its first data event that is not
 * an error. Anything before that is a failure value the chain may recover from.
 */
export async function attempt(o: AttemptOptions): Promise<AttemptResult> {
  if (o.clientSignal?.aborted) return { kind: "failed", failure: failure("client_abort", "The client went away.") };
  const started = Date.now();
  const controller = new AbortController();
  const onClientAbort = () => controller.abort(ABORT.client);
  o.clientSignal?.addEventListener("abort", onClientAbort, { once: true });
  const release = () => o.clientSignal?.removeEventListener("abort", onClientAbort);
  const clearCommitTimer = abortAfter(controller, Math.min(o.timeouts.requestMs, o.deadlineAt - started), ABORT.timeout);
  const giveUp = (f: UpstreamFailure): AttemptResult => {
    clearCommitTimer();
    release();
    if (!controller.signal.aborted) controller.abort(ABORT.finished);
    return { kind: "failed", failure: f };
  };

  let res: Response;
  try {
    res = await o.fetch(
      new Request(`${o.baseUrl}/chat/completions`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${o.key}`,
          "content-type": "application/json",
          accept: o.stream ? "text/event-stream" : "application/json",
          "x-request-id": o.requestId,
        },
        body: o.body,
        signal: controller.signal,
      }),
    );
  } catch {
    return giveUp(abortedFailure(controller.signal, "answer"));
  }

  try {
    if (classifyStatus(res.status) !== "success") return giveUp(await describeError(res, o));
    if (!o.stream) {
      const text = await res.text();
      let completion: ChatCompletion;
      try {
        completion = JSON.parse(text);
      } catch {
        return giveUp(failure("malformed", "The upstream sent a malformed response body."));
      }
      if (typeof completion !== "object" || completion === null || !Array.isArray(completion.choices)) {
        return giveUp(failure("malformed", "The upstream response has no choices."));
      }
      clearCommitTimer();
      release();
      const end: AttemptEnd = { outcome: "success", failure: null, usage: normalizeUsage(completion.usage), completion };
      return { kind: "committed", body: text, contentType: "application/json", end: Promise.resolve(end) };
    }
    if (res.body === null) return giveUp(failure("malformed", "The upstream sent an empty stream."));
    const reader = res.body.getReader();
    const splitter = new SseSplitter();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return giveUp(failure("malformed", "The upstream stream ended before its first event."));
      const events = splitter.push(value);
      const first = events.findIndex((e) => eventData(e) !== null);
      if (first < 0) continue;
      const data = eventData(events[first] ?? "") ?? "";
      let parsed: { error?: unknown; choices?: unknown };
      try {
        parsed = JSON.parse(data);
      } catch {
        reader.cancel().catch(() => {});
        return giveUp(failure("malformed", "The upstream sent a malformed stream event."));
      }
      if (parsed.error !== undefined || !Array.isArray(parsed.choices)) {
        reader.cancel().catch(() => {});
        return giveUp(failure("malformed", "The upstream stream began with an error event."));
      }
      clearCommitTimer();
      const { body, end } = relay({
        reader,
        splitter,
        initial: events.slice(first),
        controller,
        idleMs: o.timeouts.streamIdleMs,
        totalAt: started + o.timeouts.streamTotalMs,
        clientWantsUsage: o.clientWantsUsage,
        observer: o.observer,
        release,
      });
      return { kind: "committed", body, contentType: "text/event-stream; charset=utf-8", end };
    }
  } catch {
    return giveUp(abortedFailure(controller.signal, "finish its answer"));
  }
}
