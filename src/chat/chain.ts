import type { ModelConfig } from "../config/resolve";
import type { CachedAnswer } from "../core/cache";
import type { CircuitState } from "../core/circuit";
import type { GatewayError } from "../core/errors";
import { log } from "../core/log";
import type { Budget, ChainContext } from "./context";
import { exhaustedError, type RequestedFate, relayedClientError } from "./exhausted";
import { runModelStep, type StepResult } from "./step";

/** How a request's chain ended: a value, rendered into a response in one place (answer.ts). */
export type ChainAnswer =
  | { kind: "upstream"; model: string; circuit: CircuitState; body: ReadableStream<Uint8Array> | string; contentType: string }
  | { kind: "cache"; circuit: CircuitState; hit: CachedAnswer }
  | { kind: "error"; circuit: CircuitState; error: GatewayError }
  | { kind: "client_gone" };

/** What the walk has learnt so far from the steps that did not serve. */
interface Walk {
  requestedFate: RequestedFate | null;
  soonest: number | null;
  stepsTaken: number;
  /**
   * Set once a model said the request is over its context length: later models must be larger
   * than `above` tokens (null: no size known, so any model may try).
   */
  overflow: { above: number | null } | null;
}

/**
 * Walks the chain of DESIGN §2: each step serves the request transparently when the one before
 * failed before commit; when all are spent, the requested model's fate decides the answer.
 */
export async function runChain(ctx: ChainContext): Promise<ChainAnswer> {
  const budget: Budget = {
    deadlineAt: Date.now() + ctx.requested.timeouts.deadlineMs,
    attemptsLeft: ctx.settings.config.retry.maxAttempts,
    attempts: 0,
    circuit: null,
  };
  const walk: Walk = { requestedFate: null, soonest: null, stepsTaken: 0, overflow: null };
  for (const step of ctx.steps) {
    if (step.kind === "model" && !fitsOverflow(step.model, walk.overflow)) {
      log("info", "fallback_context_too_small", { requestId: ctx.requestId, model: step.model.name });
      continue;
    }
    walk.stepsTaken++;
    if (step.kind === "cache") {
      const hit = await ctx.services.cache?.lookup(step.model);
      if (hit) return { kind: "cache", circuit: budget.circuit ?? "closed", hit };
      continue;
    }
    const result = await runModelStep(ctx, step.model, step.requested, budget);
    const circuit = budget.circuit ?? "closed";
    switch (result.kind) {
      case "answered":
        return { kind: "upstream", model: step.model.name, circuit, body: result.body, contentType: result.contentType };
      case "client_gone":
        return result;
      case "rejected":
        if (step.requested) return { kind: "error", circuit, error: relayedClientError(result.failure) };
        log("warn", "fallback_rejected_request", {
          requestId: ctx.requestId,
          model: step.model.name,
          status: result.failure.status,
        });
        continue;
      case "over":
        note(walk, step.model, step.requested, result);
    }
  }
  const retried = budget.attempts > 1 || walk.stepsTaken > 1;
  const exhaustion = { fate: walk.requestedFate ?? { kind: "deadline" as const }, soonestRetryAt: walk.soonest, retried };
  return { kind: "error", circuit: budget.circuit ?? "closed", error: exhaustedError(exhaustion, Date.now()) };
}

function note(walk: Walk, model: ModelConfig, requested: boolean, over: Extract<StepResult, { kind: "over" }>): void {
  if (requested) walk.requestedFate = over.fate;
  if (over.retryAt !== null) walk.soonest = walk.soonest === null ? over.retryAt : Math.min(walk.soonest, over.retryAt);
  if (over.fate.kind === "failed" && over.fate.failure.kind === "context_overflow") {
    const known = [walk.overflow?.above, model.contextTokens].filter((n): n is number => typeof n === "number");
    walk.overflow = { above: known.length > 0 ? Math.max(...known) : null };
  }
}

/** DESIGN §15b: after a context overflow, only a model with a larger context (or an unknown one) may try. */
function fitsOverflow(model: ModelConfig, overflow: Walk["overflow"]): boolean {
  if (overflow === null || overflow.above === null || model.contextTokens === null) return true;
  return model.contextTokens > overflow.above;
}
