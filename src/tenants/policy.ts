import type { ModelConfig } from "../config/resolve";
import { MAX_CHOICES } from "../config/schema";
import type { Settings } from "../config/settings";
import type { ChatRequest } from "../core/chat-request";
import { invalidRequest, notFound } from "../core/errors";
import { limitsFor } from "./guard";

/** Whether a tenant may use a model (`tenants.<t>.models`, null: every configured model). */
export function modelAllowed(settings: Settings, tenant: string): (model: string) => boolean {
  const models = limitsFor(settings, tenant).models;
  return models === null ? () => true : (model) => models.includes(model);
}

/**
 * A tenant's request policy, applied once at the edge: the requested model must be one it may
 * use, `maxChoices` bounds `n`, and `maxTokens` bounds whichever of `max_tokens` and
 * `max_completion_tokens` the caller sent (or sets `max_tokens` when it sent neither).
 */
export function applyTenantPolicy(
  settings: Settings,
  tenant: string,
  request: ChatRequest,
): { model: ModelConfig; request: ChatRequest } {
  const model = settings.config.models.get(request.model);
  if (!model || !modelAllowed(settings, tenant)(model.name)) {
    throw notFound(`The model \`${request.model}\` does not exist or you do not have access to it.`, "model_not_found", "model");
  }
  const limits = limitsFor(settings, tenant);
  const maxChoices = limits.maxChoices ?? MAX_CHOICES;
  if ((request.n ?? 1) > maxChoices)
    throw invalidRequest(`Invalid value for 'n': must be at most ${maxChoices} for this client.`, "n");
  const cap = limits.maxTokens;
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
