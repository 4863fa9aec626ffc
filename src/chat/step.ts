import type { ModelConfig } from "../config/resolve";
import { FIRST_COOLING_MS } from "../core/cooling";
import type { UpstreamFailure } from "../core/failure";
import { sleep } from "../core/time";
import { afterFailure } from "./after-failure";
import type { Budget, ChainContext } from "./context";
import type { RequestedFate } from "./exhausted";
import { tryOnce, upstreamStreams } from "./try-once";

export type StepResult =
  | { kind: "answered"; body: ReadableStream<Uint8Array> | string; contentType: string }
  | { kind: "rejected"; failure: UpstreamFailure }
  | { kind: "client_gone" }
  | { kind: "over"; fate: RequestedFate; retryAt: number | null };

/** How long a 429 without Retry-After waits to learn the breaker's cool-down before answering. */
const COOLING_ANSWER_WAIT_MS = 500;

/**
 * One model step of the chain: admitted tries of the model, retried and re-keyed as the decision
 * after each failure says, until it answers or the step is over.
 */
export async function runModelStep(
  ctx: ChainContext,
  model: ModelConfig,
  requested: boolean,
  budget: Budget,
): Promise<StepResult> {
  const { gate } = ctx.services;
  let fate: RequestedFate = { kind: "deadline" };
  let retries = 0;
  for (;;) {
    if (budget.attemptsLeft <= 0 || Date.now() >= budget.deadlineAt) return { kind: "over", fate, retryAt: null };
    const stream = upstreamStreams(model, ctx.request.stream === true);
    const run = await gate.run(model, { stream, deadlineAt: budget.deadlineAt }, (admitted) =>
      tryOnce(ctx, model, budget, admitted.permitId !== null),
    );
    if (requested) budget.circuit ??= run.decision.state;
    if (!run.admitted)
      return { kind: "over", fate: { kind: "skipped", reason: run.decision.reason }, retryAt: run.decision.retryAt };
    const tried = run.value;
    if (tried.kind === "committed") return { kind: "answered", body: tried.body, contentType: tried.contentType };
    if (tried.kind === "no_key") return { kind: "over", fate: { kind: "no_key" }, retryAt: null };
    if (tried.kind === "out_of_time") return { kind: "over", fate, retryAt: null };
    fate = { kind: "failed", failure: tried.failure };
    const now = Date.now();
    const probe = run.decision.permitId !== null;
    const move = afterFailure({
      failure: tried.failure,
      probe,
      retries,
      now,
      deadlineAt: budget.deadlineAt,
      retry: ctx.settings.config.retry,
      random: Math.random(),
    });
    switch (move.kind) {
      case "client_gone":
        return { kind: "client_gone" };
      case "rejected":
        return { kind: "rejected", failure: tried.failure };
      case "next_step":
        return { kind: "over", fate, retryAt: move.retryAt };
      case "learn_cooling":
        // Without the upstream's word, the breaker's exponential cool-down says when to come back.
        await Promise.race([run.reported, sleep(Math.max(0, Math.min(COOLING_ANSWER_WAIT_MS, budget.deadlineAt - now)))]);
        return { kind: "over", fate, retryAt: gate.coolingUntil(model) ?? Date.now() + FIRST_COOLING_MS };
      case "rotate_key":
        await ctx.services.keys.reject(tried.key, move.status, model.name);
        continue;
      case "retry":
        retries++;
        await sleep(move.delayMs);
        if (ctx.clientSignal?.aborted) return { kind: "client_gone" };
    }
  }
}
