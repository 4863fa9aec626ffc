import type { ModelConfig } from "../config/resolve";
import type { Settings } from "../config/settings";
import type { ChainCache } from "../core/cache";
import type { ChatRequest } from "../core/chat-request";
import type { CircuitState, ModelGate, Outcome } from "../core/circuit";
import { renderError } from "../core/errors";
import { isTransient, type UpstreamFailure } from "../core/failure";
import { log } from "../core/log";
import type { UpstreamFetch } from "../core/openai";
import { sleep } from "../core/time";
import { type RequestMetrics, spendUsd } from "../metrics/request-metrics";
import { attempt } from "../upstream/attempt";
import type { KeyRejection, KeyRing } from "../upstream/keys";
import { answerResponse, cachedAnswerResponse } from "./answer";
import { exhaustedError, type RequestedFate, relayedClientError } from "./exhausted";
import type { Step } from "./plan";

export interface ChainContext {
  settings: Settings;
  request: ChatRequest;
  steps: Step[];
  requestId: string;
  clientSignal: AbortSignal | undefined;
  waitUntil: (work: Promise<unknown>) => void;
  gate: ModelGate;
  keys: KeyRing;
  /** Logs and alerts once per key per hour fleet-wide; never awaited here. */
  onKeyRejected: (rejection: KeyRejection) => void;
  fetch: UpstreamFetch;
  cache: ChainCache | null;
  metrics: RequestMetrics;
  requested: ModelConfig;
  /** Adds an answer's estimated cost to the tenant's daily spend. */
  onSpend: (usd: number) => void;
}

type StepResult =
  | { kind: "answered"; response: Response }
  | { kind: "rejected"; failure: UpstreamFailure }
  | { kind: "client_gone" }
  | { kind: "over"; fate: RequestedFate; retryAt: number | null };

/** Shared by every step of one request: DESIGN §2.2's one deadline and one attempt budget. */
interface Budget {
  deadlineAt: number;
  attemptsLeft: number;
  attempts: number;
  circuit: CircuitState;
}

export function outcomeOf(f: UpstreamFailure): Outcome {
  switch (f.kind) {
    case "rate_limited":
      return { kind: "rate_limited", retryAfterMs: f.retryAfterMs };
    case "client_abort":
      return { kind: "client_abort" };
    case "client_error":
    case "auth":
      return { kind: "ignored" };
    default:
      return { kind: "failure", reason: f.kind };
  }
}

function upstreamBody(request: ChatRequest, model: string, stream: boolean): string {
  const body: Record<string, unknown> = { ...request, model };
  // Token accounting needs usage on streams too; the usage-only chunk is dropped unless asked for.
  if (stream) body.stream_options = { ...request.stream_options, include_usage: true };
  return JSON.stringify(body);
}

/** How long a 429 without Retry-After waits to learn the breaker's cool-down before answering. */
const COOLING_ANSWER_WAIT_MS = 500;

async function runModelStep(ctx: ChainContext, step: Extract<Step, { kind: "model" }>, budget: Budget): Promise<StepResult> {
  const { model } = step;
  const { retry } = ctx.settings.config;
  const stream = ctx.request.stream === true;
  const { keys } = ctx;
  const body = upstreamBody(ctx.request, model.name, stream);
  let fate: RequestedFate = { kind: "deadline" };
  let retries = 0;
  let firstDecision = true;
  for (;;) {
    if (budget.attemptsLeft <= 0 || Date.now() >= budget.deadlineAt) return { kind: "over", fate, retryAt: null };
    const decision = await ctx.gate.admit(model, stream);
    if (step.requested && firstDecision) budget.circuit = decision.state;
    firstDecision = false;
    if (!decision.admitted)
      return { kind: "over", fate: { kind: "skipped", reason: decision.reason }, retryAt: decision.retryAt };
    const key = ctx.settings.simulatedUpstream ? "dev-simulated-upstream" : keys.pick(model.name, Date.now());
    if (key === null) {
      // Hand back a probe permit that will not be used.
      if (decision.permitId !== null) ctx.gate.report(model, decision.permitId, { kind: "ignored" });
      return { kind: "over", fate: { kind: "no_key" }, retryAt: null };
    }
    budget.attemptsLeft--;
    budget.attempts++;
    const recorder = ctx.cache?.recorder(model, stream) ?? null;
    const startedAt = Date.now();
    const result = await attempt({
      fetch: ctx.fetch,
      baseUrl: ctx.settings.baseUrl,
      key,
      body,
      stream,
      clientWantsUsage: ctx.request.stream_options?.include_usage === true,
      timeouts: model.timeouts,
      deadlineAt: budget.deadlineAt,
      clientSignal: ctx.clientSignal,
      requestId: ctx.requestId,
      observer: recorder ?? undefined,
      secrets: ctx.settings.upstreamKeys,
    });
    ctx.metrics.attempt(model, result.kind === "committed" ? "committed" : result.failure.kind, Date.now() - startedAt);
    if (result.kind === "committed") {
      ctx.waitUntil(
        result.end.then(async (end) => {
          ctx.gate.report(model, decision.permitId, end.failure ? outcomeOf(end.failure) : { kind: "success" });
          if (end.usage) {
            ctx.metrics.usage(ctx.requested, model, end.usage);
            ctx.onSpend(spendUsd(model, end.usage));
          }
          if (end.failure && end.failure.kind !== "client_abort") {
            log("warn", "stream_failed_after_commit", { requestId: ctx.requestId, model: model.name, kind: end.failure.kind });
          }
          if (end.outcome === "success") await recorder?.finish(end);
        }),
      );
      const headers = { model: model.name, source: "upstream" as const, circuit: budget.circuit };
      return { kind: "answered", response: answerResponse(result.body, result.contentType, headers) };
    }
    const f = result.failure;
    const reported = ctx.gate.report(model, decision.permitId, outcomeOf(f));
    log("warn", "upstream_attempt_failed", { requestId: ctx.requestId, model: model.name, kind: f.kind, status: f.status });
    fate = { kind: "failed", failure: f };
    if (f.kind === "client_abort") return { kind: "client_gone" };
    if (f.kind === "client_error") return { kind: "rejected", failure: f };
    if (f.kind === "rate_limited") {
      if (f.retryAfterMs !== null)
        return { kind: "over", fate, retryAt: Date.now() + Math.min(f.retryAfterMs, retry.maxDelayMs) };
      // Without the upstream's word, the breaker's exponential cool-down says when to come back.
      await Promise.race([reported, sleep(Math.max(0, Math.min(COOLING_ANSWER_WAIT_MS, budget.deadlineAt - Date.now())))]);
      return { kind: "over", fate, retryAt: ctx.gate.coolingUntil(model) ?? Date.now() + 1000 };
    }
    if (f.kind === "auth") {
      const rejection = await keys.setAside(key, f.status === 403 ? 403 : 401, model.name, Date.now());
      ctx.onKeyRejected(rejection);
      continue;
    }
    // A 503 with Retry-After says when this step could serve again.
    const retryAt = f.retryAfterMs !== null ? Date.now() + Math.min(f.retryAfterMs, retry.maxDelayMs) : null;
    if (!isTransient(f) || decision.permitId !== null || retries >= retry.maxRetries) return { kind: "over", fate, retryAt };
    retries++;
    const backoff = Math.random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (retries - 1));
    const left = budget.deadlineAt - Date.now();
    if (backoff >= left) return { kind: "over", fate, retryAt };
    await sleep(backoff);
    if (ctx.clientSignal?.aborted) return { kind: "client_gone" };
  }
}

const clientGone = () => new Response(null, { status: 499 });

/**
 * Walks the chain of DESIGN §2: each step serves the request transparently when the one before
 * failed before commit; when all are spent, the requested model's fate decides the answer.
 */
export async function runChain(ctx: ChainContext): Promise<Response> {
  const requested = ctx.steps[0];
  if (requested?.kind !== "model") throw new Error("a chain starts with the requested model");
  const budget: Budget = {
    deadlineAt: Date.now() + requested.model.timeouts.deadlineMs,
    attemptsLeft: ctx.settings.config.retry.maxAttempts,
    attempts: 0,
    circuit: "closed",
  };
  let requestedFate: RequestedFate | null = null;
  let soonest: number | null = null;
  let stepsTaken = 0;
  for (const step of ctx.steps) {
    stepsTaken++;
    if (step.kind === "cache") {
      const hit = await ctx.cache?.lookup(step.model);
      if (hit) return cachedAnswerResponse(hit, ctx.request, budget.circuit);
      continue;
    }
    const result = await runModelStep(ctx, step, budget);
    if (result.kind === "answered") return result.response;
    if (result.kind === "client_gone") return clientGone();
    if (result.kind === "rejected") {
      if (step.requested)
        return withChainHeaders(renderError(relayedClientError(result.failure)), requested.model, budget.circuit);
      log("warn", "fallback_rejected_request", {
        requestId: ctx.requestId,
        model: step.model.name,
        status: result.failure.status,
      });
      continue;
    }
    if (step.requested) requestedFate = result.fate;
    if (result.retryAt !== null) soonest = soonest === null ? result.retryAt : Math.min(soonest, result.retryAt);
  }
  const err = exhaustedError(
    { fate: requestedFate ?? { kind: "deadline" }, soonestRetryAt: soonest, retried: budget.attempts > 1 || stepsTaken > 1 },
    Date.now(),
  );
  return withChainHeaders(renderError(err), requested.model, budget.circuit);
}

function withChainHeaders(response: Response, model: ModelConfig, circuit: CircuitState): Response {
  response.headers.set("x-gateway-model", model.name);
  response.headers.set("x-gateway-circuit", circuit);
  return response;
}
