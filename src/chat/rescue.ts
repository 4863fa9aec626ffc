import type { ModelConfig } from "../config/resolve";
import type { ChatRequest } from "../core/chat-request";
import { log } from "../core/log";
import { PROVIDER } from "../upstream/keys";
import type { Continuation, Relayed, Rescue } from "../upstream/splice";
import type { Budget, ChainContext } from "./context";
import { promptTokens } from "./cost";
import { tryOnce } from "./try-once";

/**
 * The original request with the text already relayed as an assistant prefill (DESIGN §15): the
 * model answers only the rest. The completion ceiling shrinks by what was produced.
 */
export function prefilled(request: ChatRequest, text: string): ChatRequest {
  const produced = Math.ceil(text.length / 4);
  const less = (ceiling: number | null | undefined) => (typeof ceiling === "number" ? Math.max(1, ceiling - produced) : ceiling);
  return {
    ...request,
    messages: [...request.messages, { role: "assistant", content: text }],
    max_tokens: less(request.max_tokens),
    max_completion_tokens: less(request.max_completion_tokens),
  };
}

/** The steps that may continue a stream of `model`: the same model first, then the later model steps; never the cache. */
function candidates(ctx: ChainContext, model: ModelConfig): ModelConfig[] {
  const models = ctx.steps.flatMap((s) => (s.kind === "model" ? [s.model] : []));
  const later = models.slice(models.findIndex((m) => m.name === model.name) + 1);
  return [model, ...later].filter((m) => m.prefill);
}

/**
 * One try at continuing on `model`: an ordinary gated attempt (a breaker outcome like any other,
 * counted against `maxAttempts`) that must reach its first token by `deadlineAt`.
 */
async function continueOn(ctx: ChainContext, model: ModelConfig, relayed: Relayed, budget: Budget, deadlineAt: number) {
  const request = prefilled(ctx.request, relayed.text);
  const sub: ChainContext = {
    ...ctx,
    request,
    // An attempt without usage is charged its prompt, the prefill included.
    promptTokens: promptTokens(request),
    // A continued answer is never cached (DESIGN §15).
    services: { ...ctx.services, cache: null },
    // Its cost is charged to the request; the reservation goes back when the whole answer is over.
    spend: { charge: (usd) => ctx.spend.charge(usd), release: () => {} },
    recovery: false,
  };
  const window: Budget = { ...budget, deadlineAt };
  const run = await ctx.services.gate.run(model, { stream: true, deadlineAt }, (admitted) =>
    tryOnce(sub, model, window, admitted.permitId !== null, null),
  );
  budget.attemptsLeft = window.attemptsLeft;
  budget.attempts = window.attempts;
  if (!run.admitted || run.value.kind !== "committed" || typeof run.value.body === "string") return null;
  return { body: run.value.body, by: model.name, provider: PROVIDER };
}

/** How a broken stream of `model` is continued, or null when recovery is off for this request. */
export function rescuer(ctx: ChainContext, model: ModelConfig, budget: Budget): Rescue | null {
  if (!ctx.recovery) return null;
  return async (relayed) => {
    const deadlineAt = Date.now() + model.timeouts.recoveryMs;
    let continuation: Continuation | null = null;
    for (const candidate of candidates(ctx, model)) {
      if (budget.attemptsLeft <= 0 || Date.now() >= deadlineAt || ctx.clientSignal?.aborted) break;
      continuation = await continueOn(ctx, candidate, relayed, budget, deadlineAt);
      if (continuation) break;
    }
    const by = continuation?.by ?? null;
    ctx.services.metrics.continuation(model, by);
    log("warn", "stream_continued", { requestId: ctx.requestId, model: model.name, by, after: relayed.after });
    return continuation;
  };
}
