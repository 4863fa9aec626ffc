import type { Handler } from "hono";
import type { AppEnv } from "../app-env";
import { type ChatRequest, parseChatRequest } from "../core/chat-request";
import type { ServicesFactory } from "../core/services";
import { applyTenantPolicy, maxTokensFor, modelAllowed } from "../tenants/policy";
import { respond } from "./answer";
import { type ChainAnswer, runChain } from "./chain";
import { promptTokens, reservationUsd } from "./cost";
import { parseCallerBounds, planChain } from "./plan";

/** What the answer tells the metrics: which model and source served it, with what status. */
function served(answer: ChainAnswer, requested: string): { model: string; source: string; status: number } | null {
  switch (answer.kind) {
    case "upstream":
      return { model: answer.model, source: "upstream", status: 200 };
    case "cache":
      return { model: answer.hit.model, source: "cache", status: 200 };
    case "error":
      return { model: requested, source: "gateway", status: answer.error.status };
    case "client_gone":
      return null;
  }
}

/** A broken stream may be continued (DESIGN §15): unless config or caller says off, or `n > 1`. */
function recoveryAllowed(mode: "continue" | "off", callerAllows: boolean, request: ChatRequest): boolean {
  return mode === "continue" && callerAllows && request.stream === true && (request.n ?? 1) <= 1;
}

/** POST /v1/chat/completions: validate, plan, then walk the chain (DESIGN §2). */
export function chatCompletions(services: ServicesFactory): Handler<AppEnv> {
  return async function chatCompletions(c) {
    const settings = c.get("settings");
    const bounds = parseCallerBounds(c.req.raw.headers);
    const tenant = c.get("tenant");
    const identity = c.get("identity");
    const { model, request } = applyTenantPolicy(settings, tenant, identity, parseChatRequest(c.get("rawBody")));
    const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
    const s = services({
      env: c.env,
      settings,
      waitUntil,
      tenant,
      identity,
      requested: model,
      request,
      noStore: /\bno-store\b/i.test(c.req.header("cache-control") ?? ""),
      maxStaleSeconds: bounds.maxStaleSeconds,
    });
    const steps = planChain(settings.config, model, bounds, modelAllowed(settings, tenant, identity));
    const chain = steps.flatMap((step) => (step.kind === "model" ? [step.model] : []));
    const spend = await s.usage.admit(reservationUsd(request, chain, maxTokensFor(settings, tenant, identity)));
    const ctx = {
      settings,
      request,
      requested: model,
      requestId: c.get("requestId"),
      clientSignal: c.req.raw.signal,
      waitUntil,
      services: s,
      steps,
      recovery: recoveryAllowed(settings.config.streamRecovery.mode, bounds.streamRecovery, request),
      spend,
      promptTokens: promptTokens(request),
    };
    const answer = await runChain(ctx).catch((err: unknown) => {
      spend.release();
      throw err;
    });
    // A committed answer's reservation is settled when its end is (try-once); any other answer's now.
    if (answer.kind !== "upstream") spend.release();
    const seen = served(answer, model.name);
    if (seen) s.metrics.answered(model, seen.model, seen.source, seen.status);
    return respond(answer, request, model.name);
  };
}
