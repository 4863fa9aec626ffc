import type { ModelConfig } from "../config/resolve";
import type { AnswerRecorder } from "../core/cache";
import type { Attempted, Outcome } from "../core/circuit";
import { outcomeOf, type UpstreamFailure } from "../core/failure";
import { log } from "../core/log";
import type { AttemptEnd } from "../core/openai";
import { attempt } from "../upstream/attempt";
import type { Rescue } from "../upstream/splice";
import type { Budget, ChainContext } from "./context";
import { attemptUsd } from "./cost";

/** What one admitted try produced, before the chain decides what comes next. */
export type Tried =
  | { kind: "committed"; body: ReadableStream<Uint8Array> | string; contentType: string }
  | { kind: "failed"; failure: UpstreamFailure; key: string }
  | { kind: "no_key" }
  /** Admission took the rest of the deadline: the model was not called, so it is not blamed. */
  | { kind: "out_of_time" };

const FAILED: Outcome = { kind: "failure", reason: "stream_failed" };

/** The simulated upstream takes any key; dev mode needs none. */
const SIMULATED_KEY = "dev-simulated-upstream";

function upstreamBody(ctx: ChainContext, model: string, upstreamStream: boolean): string {
  const body: Record<string, unknown> = { ...ctx.request, model };
  // Token accounting needs usage on streams too; the usage-only chunk is dropped unless asked for.
  if (upstreamStream) {
    body.stream = true;
    body.stream_options = { ...ctx.request.stream_options, include_usage: true };
  }
  return JSON.stringify(body);
}

/** Whether the upstream is asked for a stream: always, unless the model keeps the old way (DESIGN §12). */
export function upstreamStreams(model: ModelConfig, clientStream: boolean): boolean {
  return clientStream || model.upstreamStreaming === "always";
}

/** One upstream call of a model the breaker admitted, with its outcome for the breaker. */
export async function tryOnce(
  ctx: ChainContext,
  model: ModelConfig,
  budget: Budget,
  probe: boolean,
  rescue: Rescue | null,
): Promise<Attempted<Tried>> {
  const { services, settings } = ctx;
  if (Date.now() >= budget.deadlineAt) return { value: { kind: "out_of_time" }, outcome: null };
  const key = settings.simulatedUpstream ? SIMULATED_KEY : services.keys.pick(model.name, Date.now());
  if (key === null) return { value: { kind: "no_key" }, outcome: null };
  budget.attemptsLeft--;
  budget.attempts++;
  const stream = ctx.request.stream === true;
  const upstreamStream = upstreamStreams(model, stream);
  const recorder = services.cache?.recorder(model, stream) ?? null;
  const startedAt = Date.now();
  const sent = ctx.clientSignal?.aborted !== true;
  const result = await attempt({
    fetch: services.fetch,
    baseUrl: settings.baseUrl,
    key,
    body: upstreamBody(ctx, model.name, upstreamStream),
    stream: upstreamStream,
    collect: upstreamStream && !stream,
    clientWantsUsage: ctx.request.stream_options?.include_usage === true,
    timeouts: model.timeouts,
    deadlineAt: budget.deadlineAt,
    clientSignal: ctx.clientSignal,
    requestId: ctx.requestId,
    observer: recorder ?? undefined,
    secrets: settings.upstreamKeys,
    rescue,
    maxContinuations: settings.config.streamRecovery.maxContinuations,
  });
  services.metrics.attempt(model, result.kind === "committed" ? "committed" : result.failure.kind, Date.now() - startedAt);
  if (result.kind === "failed") {
    const f = result.failure;
    // The upstream had the prompt (unless the client left before the call): it may have cost.
    if (sent) ctx.spend.charge(attemptUsd(model, ctx.promptTokens, null, result.completionChars ?? 0));
    log("warn", "upstream_attempt_failed", { requestId: ctx.requestId, model: model.name, kind: f.kind, status: f.status });
    return { value: { kind: "failed", failure: f, key }, outcome: outcomeOf(f) };
  }
  const outcome = result.end.then((end) => slowness(settle(ctx, model, recorder, end, probe), result.firstTokenMs, model));
  // The reservation goes back once the client's answer is over, a rescued stream's continuations included.
  ctx.waitUntil(Promise.allSettled([outcome, result.closed]).then(() => ctx.spend.release()));
  return { value: { kind: "committed", body: result.body, contentType: result.contentType }, outcome };
}

/** Once a committed answer ended: tokens, spend and the cache; the breaker hears the outcome. */
function settle(
  ctx: ChainContext,
  model: ModelConfig,
  recorder: AnswerRecorder | null,
  end: AttemptEnd,
  probe: boolean,
): Outcome {
  if (end.usage) ctx.services.metrics.usage(ctx.requested, model, end.usage);
  // The answer is over: its cost, real or estimated from what passed, settles the reservation.
  ctx.spend.charge(attemptUsd(model, ctx.promptTokens, end.usage, end.completionChars));
  if (end.droppedEvents > 0) ctx.services.metrics.droppedEvents(model, end.droppedEvents);
  if (end.failure && end.failure.kind !== "client_abort") {
    log("warn", "stream_failed_after_commit", { requestId: ctx.requestId, model: model.name, kind: end.failure.kind });
  }
  if (end.outcome === "success" && end.cacheable && recorder) ctx.waitUntil(recorder.finish(end));
  switch (end.outcome) {
    case "failure":
      return end.failure ? outcomeOf(end.failure) : FAILED;
    case "success":
      return { kind: "success" };
    default:
      // The model answered: a probe that committed is a success even if its client left or lagged.
      return probe ? { kind: "success" } : { kind: "client_abort" };
  }
}

/** DESIGN §18: a success whose first token came later than `slowCallMs` counts toward the slow-call rate. */
function slowness(outcome: Outcome, firstTokenMs: number, model: ModelConfig): Outcome {
  const limit = model.breaker.slowCallMs;
  return outcome.kind === "success" && limit !== null && firstTokenMs > limit ? { kind: "success", slow: true } : outcome;
}
