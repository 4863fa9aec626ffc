import type { ModelConfig } from "../config/resolve";
import { MAX_CHOICES } from "../config/schema";
import type { Settings } from "../config/settings";
import type { ChatRequest } from "../core/chat-request";
import { invalidRequest, notFound } from "../core/errors";
import type { Identity } from "../core/identity";
import { limitsFor, userLimitsFor } from "./guard";

/**
 * Whether a caller may use a model: its tenant's `models` and, for an end user, their own
 * (`perUser`/tier `models`) narrow it (null: every configured model).
 */
export function modelAllowed(settings: Settings, tenant: string, identity: Identity | null): (model: string) => boolean {
  const lists = [limitsFor(settings, tenant).models, userLimitsFor(settings, identity)?.models ?? null];
  const bounds = lists.filter((l): l is string[] => l !== null);
  return (model) => bounds.every((l) => l.includes(model));
}

/** The stricter of the tenant's and the end user's `maxTokens` (null: neither bounds it). */
export function maxTokensFor(settings: Settings, tenant: string, identity: Identity | null): number | null {
  const caps = [limitsFor(settings, tenant).maxTokens, userLimitsFor(settings, identity)?.maxTokens ?? null];
  const set = caps.filter((c): c is number => c !== null);
  return set.length === 0 ? null : Math.min(...set);
}

/**
 * A caller's request policy, applied once at the edge: the requested model must be one its
 * tenant (and its end user) may use, `maxChoices` bounds `n`, and the stricter `maxTokens` bounds
 * whichever of `max_tokens` and `max_completion_tokens` the caller sent (or sets `max_tokens` when
 * it sent neither).
 */
export function applyTenantPolicy(
  settings: Settings,
  tenant: string,
  identity: Identity | null,
  request: ChatRequest,
): { model: ModelConfig; request: ChatRequest } {
  const model = settings.config.models.get(request.model);
  if (!model || !modelAllowed(settings, tenant, identity)(model.name)) {
    throw notFound(`The model \`${request.model}\` does not exist or you do not have access to it.`, "model_not_found", "model");
  }
  const maxChoices = limitsFor(settings, tenant).maxChoices ?? MAX_CHOICES;
  if ((request.n ?? 1) > maxChoices)
    throw invalidRequest(`Invalid value for 'n': must be at most ${maxChoices} for this client.`, "n");
  const cap = maxTokensFor(settings, tenant, identity);
  if (cap === null) return { model, request };
  for (const field of ["max_tokens", "max_completion_tokens"] as const) {
    const asked = request[field];
    if (typeof asked === "number" && asked > cap)
      throw invalidRequest(`Invalid value for '${field}': must be at most ${cap} for this client.`, field);
  }
  if (request.max_tokens == null && request.max_completion_tokens == null)
    return { model, request: { ...request, max_tokens: cap } };
  return { model, request };
}
