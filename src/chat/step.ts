import type { ModelConfig } from "../config/resolve";
import type { GateRun } from "../core/circuit";
import { FIRST_COOLING_MS } from "../core/cooling";
import type { UpstreamFailure } from "../core/failure";
import { sleep } from "../core/time";
import { afterFailure, type NextMove } from "./after-failure";
import type { Budget, ChainContext } from "./context";
import type { RequestedFate } from "./exhausted";
import { rescuer } from "./rescue";
import { type Tried, tryOnce, upstreamStreams } from "./try-once";

export type StepResult =
  | { kind: "answered"; body: ReadableStream<Uint8Array> | string; contentType: string }
  | { kind: "rejected"; failure: UpstreamFailure }
  | { kind: "client_gone" }
  | { kind: "over"; fate: RequestedFate; retryAt: number | null };

/** How long a 429 without Retry-After waits to learn the breaker's cool-down before answering. */
const COOLING_ANSWER_WAIT_MS = 500;
/**
 * How much later than the Retry-After the cool-down it started may end (the breaker dates it when
 * the report lands) and still be waited for; past that, something else cooled the model longer.
 */
const COOLING_SLACK_MS = 250;

/** What a step keeps across its tries. */
interface Tries {
  fate: RequestedFate;
  retries: number;
  waited: boolean;
}

/** One step's tries: the model's gated run and the failure it ended in. */
interface Failed {
  model: ModelConfig;
  run: GateRun<Tried> & { admitted: true };
  failure: UpstreamFailure;
  key: string;
}

/** Why no try can start: a 402 set the provider's keys aside, or the budget is spent. */
function blocked(ctx: ChainContext, budget: Budget, tries: Tries): StepResult | null {
  // After a 402 every model of the provider is skipped until its keys come back.
  const aside = ctx.services.keys.accountAsideUntil(Date.now());
  if (aside !== null) return { kind: "over", fate: { kind: "account_aside" }, retryAt: aside };
  if (budget.attemptsLeft <= 0 || Date.now() >= budget.deadlineAt) return { kind: "over", fate: tries.fate, retryAt: null };
  return null;
}

/** One gated try of `model`: admission, the call and its report (a broken stream may be rescued). */
function gatedTry(ctx: ChainContext, model: ModelConfig, budget: Budget): Promise<GateRun<Tried>> {
  const stream = upstreamStreams(model, ctx.request.stream === true);
  return ctx.services.gate.run(model, { stream, deadlineAt: budget.deadlineAt }, (admitted) =>
    tryOnce(ctx, model, budget, admitted.permitId !== null, rescuer(ctx, model, budget)),
  );
}

/** An admitted try that never called the model. */
function notCalled(ctx: ChainContext, kind: "no_key" | "out_of_time", tries: Tries): StepResult {
  if (kind === "out_of_time") return { kind: "over", fate: tries.fate, retryAt: null };
  // A 402 elsewhere may have set the keys aside since this step looked.
  const until = ctx.services.keys.accountAsideUntil(Date.now());
  return { kind: "over", fate: until === null ? { kind: "no_key" } : { kind: "account_aside" }, retryAt: until };
}

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
  const tries: Tries = { fate: { kind: "deadline" }, retries: 0, waited: false };
  for (;;) {
    const stop = blocked(ctx, budget, tries);
    if (stop) return stop;
    const run = await gatedTry(ctx, model, budget);
    if (requested) budget.circuit ??= run.decision.state;
    if (!run.admitted)
      return { kind: "over", fate: { kind: "skipped", reason: run.decision.reason }, retryAt: run.decision.retryAt };
    const tried = run.value;
    if (tried.kind === "committed") return { kind: "answered", body: tried.body, contentType: tried.contentType };
    if (tried.kind !== "failed") return notCalled(ctx, tried.kind, tries);
    tries.fate = { kind: "failed", failure: tried.failure };
    const move = afterFailure({
      failure: tried.failure,
      probe: run.decision.permitId !== null,
      requested,
      retries: tries.retries,
      waitedOnRetryAfter: tries.waited,
      attemptsLeft: budget.attemptsLeft,
      now: Date.now(),
      deadlineAt: budget.deadlineAt,
      retry: ctx.settings.config.retry,
      random: Math.random(),
    });
    const next = await follow(ctx, move, { model, run, failure: tried.failure, key: tried.key }, tries, budget);
    if (next !== "again") return next;
  }
}

/** Carries out the decision after a failure: the step's result, or "again" for another try. */
async function follow(ctx: ChainContext, move: NextMove, f: Failed, tries: Tries, budget: Budget): Promise<StepResult | "again"> {
  const { gate, keys } = ctx.services;
  const over = (retryAt: number | null): StepResult => ({ kind: "over", fate: tries.fate, retryAt });
  switch (move.kind) {
    case "client_gone":
      return { kind: "client_gone" };
    case "rejected":
      return { kind: "rejected", failure: f.failure };
    case "next_step":
      return over(move.retryAt);
    case "account_refused":
      keys.refuseAccount(f.model.name);
      return over(keys.accountAsideUntil(Date.now()));
    case "learn_cooling": {
      // Without the upstream's word, the breaker's exponential cool-down says when to come back.
      const waitMs = Math.max(0, Math.min(COOLING_ANSWER_WAIT_MS, budget.deadlineAt - Date.now()));
      await Promise.race([f.run.reported, sleep(waitMs)]);
      return over(gate.coolingUntil(f.model) ?? Date.now() + FIRST_COOLING_MS);
    }
    case "rotate_key":
      await keys.reject(f.key, move.status, f.model.name);
      return "again";
    case "retry":
      tries.retries++;
      await sleep(move.delayMs);
      return ctx.clientSignal?.aborted ? { kind: "client_gone" } : "again";
    case "wait_retry":
      tries.waited = true;
      return waitOutRetryAfter(ctx, f, move.delayMs, budget, over);
  }
}

/**
 * Waits out a short Retry-After (DESIGN §15b). The 429 also cooled the model for everyone (§3),
 * so the wait lasts until that cool-down is over too, or the model would be skipped as cooling.
 */
async function waitOutRetryAfter(
  ctx: ChainContext,
  f: Failed,
  delayMs: number,
  budget: Budget,
  over: (retryAt: number | null) => StepResult,
): Promise<StepResult | "again"> {
  const told = Date.now() + delayMs;
  await Promise.race([f.run.reported, sleep(delayMs)]);
  const until = Math.max(told, ctx.services.gate.coolingUntil(f.model) ?? 0);
  if (until > told + COOLING_SLACK_MS || until >= budget.deadlineAt) return over(until);
  // Timers may fire a hair early; admission compares against the cool-down's end.
  await sleep(until - Date.now() + 5);
  return ctx.clientSignal?.aborted ? { kind: "client_gone" } : "again";
}
