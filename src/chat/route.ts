import type { Handler } from "hono";
import type { AppEnv } from "../app-env";
import type { CacheScope } from "../cache/chain-cache";
import type { ModelConfig } from "../config/resolve";
import type { Settings } from "../config/settings";
import type { ChainCache } from "../core/cache";
import { parseChatRequest } from "../core/chat-request";
import type { ModelGate } from "../core/circuit";
import { log } from "../core/log";
import type { UpstreamFetch } from "../core/openai";
import type { RequestMetrics } from "../metrics/request-metrics";
import { bucketsFor, type TenantGuard, tenantBucket } from "../tenants/guard";
import { applyTenantPolicy, modelAllowed } from "../tenants/policy";
import type { KeyRing } from "../upstream/keys";
import { runChain } from "./execute";
import { parseCallerBounds, planChain } from "./plan";

/** What the chat route needs from the isolate, resolved per request from the settings. */
export interface ChatDeps {
  gate: (env: Env, settings: Settings, waitUntil: (work: Promise<unknown>) => void) => ModelGate;
  keys: (keys: readonly string[]) => KeyRing;
  fetch: (env: Env, settings: Settings) => UpstreamFetch;
  cache: (env: Env, settings: Settings, scope: Omit<CacheScope, "count">) => ChainCache | null;
  tenants: (env: Env, settings: Settings, waitUntil: (work: Promise<unknown>) => void) => TenantGuard;
  metrics: (
    env: Env,
    settings: Settings,
    requested: ModelConfig,
    tenant: string,
    waitUntil: (work: Promise<unknown>) => void,
  ) => RequestMetrics;
}

/** POST /v1/chat/completions: validate, plan, then walk the chain (DESIGN §2). */
export function chatCompletions(deps: ChatDeps): Handler<AppEnv> {
  return async function chatCompletions(c) {
    const settings = c.get("settings");
    const bounds = parseCallerBounds(c.req.raw.headers);
    const tenant = c.get("tenant");
    const { model, request } = applyTenantPolicy(settings, tenant, parseChatRequest(c.get("rawBody")));
    const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
    const guard = deps.tenants(c.env, settings, waitUntil);
    await guard.admit(bucketsFor(settings, tenant, c.req.header("cf-connecting-ip") ?? null));
    const noStore = /\bno-store\b/i.test(c.req.header("cache-control") ?? "");
    const metrics = deps.metrics(c.env, settings, model, tenant, waitUntil);
    const response = await runChain({
      requested: model,
      metrics,
      settings,
      request,
      steps: planChain(settings.config, model, bounds, modelAllowed(settings, tenant)),
      onSpend: (usd) => guard.spend(tenantBucket(tenant), usd),
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
      cache: deps.cache(c.env, settings, { tenant, request, noStore, maxStaleSeconds: bounds.maxStaleSeconds, waitUntil }),
    });
    if (response.status !== 499) {
      const source = response.headers.get("x-gateway-source") ?? "gateway";
      metrics.answered(model, response.headers.get("x-gateway-model") ?? model.name, source, response.status);
    }
    return response;
  };
}
