import type { CachedAnswer } from "../core/cache";
import type { CircuitState } from "../core/circuit";
import type { GatewayError } from "../core/errors";
import { log } from "../core/log";
import type { Budget, ChainContext } from "./context";
import { exhaustedError, type RequestedFate, relayedClientError } from "./exhausted";
import type { Step } from "./plan";
import { runModelStep } from "./step";

/** How a request's chain ended: a value, rendered into a response in one place (answer.ts). */
export type ChainAnswer =
  | { kind: "upstream"; model: string; circuit: CircuitState; body: ReadableStream<Uint8Array> | string; contentType: string }
  | { kind: "cache"; circuit: CircuitState; hit: CachedAnswer }
  | { kind: "error"; circuit: CircuitState; error: GatewayError }
  | { kind: "client_gone" };

/**
 * Walks the chain of DESIGN §2: each step serves the request transparently when the one before
 * failed before commit; when all are spent, the requested model's fate decides the answer.
 */
export async function runChain(ctx: ChainContext, steps: Step[]): Promise<ChainAnswer> {
  const budget: Budget = {
    deadlineAt: Date.now() + ctx.requested.timeouts.deadlineMs,
    attemptsLeft: ctx.settings.config.retry.maxAttempts,
    attempts: 0,
    circuit: null,
  };
  let requestedFate: RequestedFate | null = null;
  let soonest: number | null = null;
  let stepsTaken = 0;
  for (const step of steps) {
    stepsTaken++;
    const circuit = budget.circuit ?? "closed";
    if (step.kind === "cache") {
      const hit = await ctx.services.cache?.lookup(step.model);
      if (hit) return { kind: "cache", circuit, hit };
      continue;
    }
    const result = await runModelStep(ctx, step.model, step.requested, budget);
    if (result.kind === "answered") {
      const { body, contentType } = result;
      return { kind: "upstream", model: step.model.name, circuit: budget.circuit ?? "closed", body, contentType };
    }
    if (result.kind === "client_gone") return result;
    if (result.kind === "rejected") {
      if (step.requested)
        return { kind: "error", circuit: budget.circuit ?? "closed", error: relayedClientError(result.failure) };
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
  const retried = budget.attempts > 1 || stepsTaken > 1;
  const error = exhaustedError({ fate: requestedFate ?? { kind: "deadline" }, soonestRetryAt: soonest, retried }, Date.now());
  return { kind: "error", circuit: budget.circuit ?? "closed", error };
}
