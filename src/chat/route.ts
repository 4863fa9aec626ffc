import type { Handler } from "hono";
import type { AppEnv } from "../app-env";
import type { CacheScope } from "../cache/chain-cache";
import type { ModelConfig } from "../config/resolve";
import type { Settings } from "../config/settings";
import type { RequestMetrics } from "../metrics/request-metrics";
import { notFound } from "../errors";
import { log } from "../log";
import type { ChainCache } from "./execute";
import { runChain } from "./execute";
import type { ModelGate } from "./gate";
import { parseCallerBounds, planChain } from "./plan";
import { parseChatRequest } from "./schema";
import type { KeyRing } from "../upstream/keys";
import type { UpstreamFetch } from "../upstream/types";

/** What the chat route needs from the isolate, resolved per request from the settings. */
export interface ChatDeps {
  gate: (env: Env, settings: Settings, waitUntil: (work: Promise<unknown>) => void) => ModelGate;
  keys: (keys: readonly string[]) => KeyRing;
  fetch: (env: Env, settings: Settings) => UpstreamFetch;
  cache: (env: Env, settings: Settings, scope: Omit<CacheScope, "count">) => ChainCache | null;
  metrics: (env: Env, settings: Settings, requested: ModelConfig, tenant: string, waitUntil: (work: Promise<unknown>) => void) => RequestMetrics;
}

/** POST /v1/chat/completions: validate, plan, then walk the chain (DESIGN §2). */
export function chatCompletions(deps: ChatDeps): Handler<AppEnv> {
  return async function chatCompletions(c) {
    const settings = c.get("settings");
    const bounds = parseCallerBounds(c.req.raw.headers);
    const request = parseChatRequest(c.get("rawBody"));
    const model = settings.config.models.get(request.model);
    if (!model) throw notFound(`The model \`${request.model}\` does not exist or is not configured.`, "model_not_found", "model");
    const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
    const noStore = /\bno-store\b/i.test(c.req.header("cache-control") ?? "");
    const metrics = deps.metrics(c.env, settings, model, c.get("tenant"), waitUntil);
    const response = await runChain({
      requested: model,
      metrics,
      settings,
      request,
      steps: planChain(settings.config, model, bounds),
      requestId: c.get("requestId"),
      clientSignal: c.req.raw.signal,
      waitUntil,
      gate: deps.gate(c.env, settings, waitUntil),
      keys: deps.keys(settings.upstreamKeys),
      onKeyRejected: (rejection) =>
        waitUntil(
          c.env.KEY_ALERTS.getByName("keys")
            .notify(rejection, settings.alertWebhookUrl)
            .catch(() => log("warn", "key_alert_unavailable", { fingerprint: rejection.fingerprint })),
        ),
      fetch: deps.fetch(c.env, settings),
      cache: deps.cache(c.env, settings, { tenant: c.get("tenant"), request, noStore, maxStaleSeconds: bounds.maxStaleSeconds, waitUntil }),
    });
    if (response.status !== 499) {
      const source = response.headers.get("x-gateway-source") ?? "gateway";
      metrics.answered(model, response.headers.get("x-gateway-model") ?? model.name, source, response.status);
    }
    return response;
  };
}
