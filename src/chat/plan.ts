import type { FallbackStep, GatewayConfig, ModelConfig } from "../config/resolve";
import { invalidRequest } from "../core/errors";

/** Which fallback steps the caller allows (`x-gateway-fallback`, DESIGN §6). */
export type FallbackPolicy = "all" | "none" | "cache" | "models";

export type Step = { kind: "model"; model: ModelConfig; requested: boolean } | { kind: "cache"; model: ModelConfig };

export interface CallerBounds {
  fallback: FallbackPolicy;
  /** Refuse cached answers older than this many seconds; null: no age limit. */
  maxStaleSeconds: number | null;
  /** `x-gateway-stream-recovery: off`: a stream that breaks is not continued (DESIGN §15). */
  streamRecovery: boolean;
}

const POLICIES: readonly FallbackPolicy[] = ["all", "none", "cache", "models"];

export function parseCallerBounds(headers: Headers): CallerBounds {
  const rawPolicy = headers.get("x-gateway-fallback")?.trim().toLowerCase() ?? "all";
  const fallback = POLICIES.find((p) => p === rawPolicy);
  if (fallback === undefined) {
    throw invalidRequest(
      "Invalid x-gateway-fallback: expected all, none, cache or models.",
      "x-gateway-fallback",
      "invalid_header",
    );
  }
  const rawStale = headers.get("x-gateway-max-stale");
  let maxStaleSeconds: number | null = null;
  if (rawStale !== null) {
    if (!/^\s*\d{1,10}\s*$/.test(rawStale)) {
      throw invalidRequest(
        "Invalid x-gateway-max-stale: expected whole seconds (0 or more).",
        "x-gateway-max-stale",
        "invalid_header",
      );
    }
    maxStaleSeconds = Number(rawStale);
  }
  const recovery = headers.get("x-gateway-stream-recovery")?.trim().toLowerCase() ?? "on";
  if (recovery !== "on" && recovery !== "off") {
    throw invalidRequest("Invalid x-gateway-stream-recovery: expected on or off.", "x-gateway-stream-recovery", "invalid_header");
  }
  return { fallback, maxStaleSeconds, streamRecovery: recovery === "on" };
}

/**
 * The chain of DESIGN §2.2: the requested model, then `fallbackOrder`'s steps as the caller allows
 * them; a fallback model the tenant may not use is left out. The cached answer looked up is the requested model's: a fallback model's answer never
 * passes for it.
 */
export function planChain(
  config: GatewayConfig,
  requested: ModelConfig,
  bounds: CallerBounds,
  allowed: (model: string) => boolean,
): Step[] {
  const steps: Step[] = [{ kind: "model", model: requested, requested: true }];
  const allows = (step: FallbackStep) => bounds.fallback === "all" || bounds.fallback === step;
  for (const step of config.fallbackOrder) {
    if (!allows(step)) continue;
    if (step === "cache") steps.push({ kind: "cache", model: requested });
    else {
      for (const name of requested.fallbacks) {
        const model = config.models.get(name);
        if (model && allowed(name)) steps.push({ kind: "model", model, requested: false });
      }
    }
  }
  return steps;
}
