import type { Handler } from "hono";
import type { AppEnv } from "../app-env";
import type { Settings } from "../config/settings";
import { notFound } from "../errors";
import type { ChainCache } from "./execute";
import { runChain } from "./execute";
import type { ModelGate } from "./gate";
import { parseCallerBounds, planChain } from "./plan";
import { parseChatRequest } from "./schema";
import type { KeyRing } from "../upstream/keys";
import type { UpstreamFetch } from "../upstream/types";

/** What the chat route needs from the isolate, resolved per request from the settings. */
export interface CacheScope {
  tenant: string;
  noStore: boolean;
  maxStaleSeconds: number | null;
  waitUntil: (work: Promise<unknown>) => void;
}

export interface ChatDeps {
  gate: (env: Env, settings: Settings, waitUntil: (work: Promise<unknown>) => void) => ModelGate;
  keys: (keys: readonly string[]) => KeyRing;
  fetch: (env: Env, settings: Settings) => UpstreamFetch;
  cache: (env: Env, settings: Settings, scope: CacheScope) => ChainCache | null;
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
    return runChain({
      settings,
      request,
      steps: planChain(settings.config, model, bounds),
      requestId: c.get("requestId"),
      clientSignal: c.req.raw.signal,
      waitUntil,
      gate: deps.gate(c.env, settings, waitUntil),
      keys: deps.keys(settings.upstreamKeys),
      fetch: deps.fetch(c.env, settings),
      cache: deps.cache(c.env, settings, { tenant: c.get("tenant"), noStore, maxStaleSeconds: bounds.maxStaleSeconds, waitUntil }),
    });
  };
}
