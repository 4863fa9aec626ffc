import type { z } from "zod";
import { formatPath } from "../core/field-path";
import { type IdentityConfig, resolveIdentity } from "./identity";
import {
  type BreakerSettings,
  type GatewayConfigInput,
  gatewayConfigSchema,
  type TenantEntryInput,
  type TenantLimits,
  type Timeouts,
} from "./schema";

/** The defaults of DESIGN §7, applied once so the rest of the gateway reads plain values. */
const DEFAULT_BREAKER: BreakerSettings = {
  trip: "consecutive",
  failureThreshold: 5,
  failureRateThreshold: 0.5,
  minimumCalls: 20,
  windowMs: 30_000,
  successThreshold: 2,
  openTimeoutMs: 60_000,
  halfOpenMaxCalls: 3,
  slowCallMs: null,
  slowCallRateThreshold: 0.5,
};
const DEFAULT_TIMEOUTS: Timeouts = {
  requestMs: 30_000,
  streamIdleMs: 30_000,
  streamTotalMs: 120_000,
  deadlineMs: 60_000,
  streamWallMs: 600_000,
  recoveryMs: 30_000,
};
const DEFAULT_RETRY: GatewayConfig["retry"] = {
  maxRetries: 1,
  maxAttempts: 4,
  baseDelayMs: 250,
  maxDelayMs: 60_000,
  waitOnRetryAfterMs: 2_000,
};
const DEFAULT_MODELS: NonNullable<GatewayConfigInput["models"]> = {
  "gpt-4.1": { fallbacks: ["deepseek-v3.2"], priceUsdPerMTok: 8.0 },
  "claude-sonnet-4.5": {
    fallbacks: ["gpt-4.1", "deepseek-v3.2"],
    priceUsdPerMTok: 15.0,
    breaker: { failureThreshold: 3 },
  },
  "gemini-2.5-flash": { fallbacks: ["deepseek-v3.2"], priceUsdPerMTok: 2.5 },
  "deepseek-v3.2": { fallbacks: [], priceUsdPerMTok: 0.42 },
};
const DEFAULT_TENANT: TenantLimits = {
  requestsPerMinute: 600,
  dailyBudgetUsd: null,
  models: null,
  maxTokens: null,
  maxChoices: 1,
  ipRequestsPerMinute: null,
};

export type FallbackStep = "cache" | "models";

export interface ModelConfig {
  name: string;
  fallbacks: string[];
  price: { input: number; output: number };
  breaker: BreakerSettings;
  timeouts: Timeouts;
  cacheEnabled: boolean;
  /** Whether the upstream is asked for a stream even when the client asked for JSON (DESIGN §12). */
  upstreamStreaming: "always" | "as_requested";
  /** Whether the model accepts a trailing assistant message, and so can continue a stream (DESIGN §15). */
  prefill: boolean;
  /** Null: unknown, so a context overflow elsewhere may try this model. */
  contextTokens: number | null;
  /** The completion ceiling a request reserves when neither it nor its tenant sets one (DESIGN §13). */
  maxOutputTokens: number;
}

export interface GatewayConfig {
  models: ReadonlyMap<string, ModelConfig>;
  fallbackOrder: FallbackStep[];
  cache: {
    enabled: boolean;
    ttlSeconds: number;
    maxEntryBytes: number;
    disabledTenants: ReadonlySet<string>;
    /** Tenants whose answers are keyed by end user as well (`cache.tenants.<t>.scope: "user"`). */
    userScopedTenants: ReadonlySet<string>;
  };
  retry: { maxRetries: number; maxAttempts: number; baseDelayMs: number; maxDelayMs: number; waitOnRetryAfterMs: number };
  limits: { maxBodyBytes: number };
  /**
   * `named` is a Map so that any tenant name (`constructor`, `__proto__`) is only a name.
   * `public` is the anonymous tenant's, configured or not: its per-IP limit defaults to `ip`'s.
   */
  tenants: {
    default: TenantLimits;
    ip: { requestsPerMinute: number | null };
    public: TenantLimits;
    named: ReadonlyMap<string, TenantLimits>;
  };
  /** Tenants whose end users bring JWTs (DESIGN §14). */
  identity: IdentityConfig;
  snapshotTtlMs: number;
  streamRecovery: { mode: "continue" | "off"; maxContinuations: number };
}

/** A config problem, named by its path (`GATEWAY_CONFIG.models.gpt-4.1.fallbacks[0]`). */
export interface ConfigProblem {
  path: string;
  message: string;
}

function firstIssue(error: z.ZodError, root: string): ConfigProblem {
  const issue = error.issues[0];
  if (!issue) return { path: root, message: "invalid" };
  const path =
    issue.code === "unrecognized_keys" ? formatPath(root, [...issue.path, issue.keys[0] ?? ""]) : formatPath(root, issue.path);
  const message = issue.code === "unrecognized_keys" ? "unknown setting" : issue.message;
  return { path, message };
}

type Resolved<T> = ({ ok: true } & T) | { ok: false; problem: ConfigProblem };

function resolveModels(input: GatewayConfigInput): Map<string, ModelConfig> {
  const breaker = { ...DEFAULT_BREAKER, ...input.breaker };
  const timeouts = { ...DEFAULT_TIMEOUTS, ...input.timeouts };
  const models = new Map<string, ModelConfig>();
  for (const [name, m] of Object.entries(input.models ?? DEFAULT_MODELS)) {
    const price = m.priceUsdPerMTok ?? 0;
    models.set(name, {
      name,
      fallbacks: m.fallbacks ?? [],
      price: typeof price === "number" ? { input: price, output: price } : price,
      breaker: { ...breaker, ...m.breaker },
      timeouts: { ...timeouts, ...m.timeouts },
      cacheEnabled: m.cache?.enabled ?? true,
      upstreamStreaming: m.upstreamStreaming ?? "always",
      prefill: m.prefill ?? true,
      contextTokens: m.contextTokens ?? null,
      maxOutputTokens: m.maxOutputTokens ?? 4096,
    });
  }
  return models;
}

/** Every fallback must name another configured model. */
function fallbackProblem(models: ReadonlyMap<string, ModelConfig>): ConfigProblem | null {
  for (const model of models.values()) {
    for (const [i, fallback] of model.fallbacks.entries()) {
      const path = `GATEWAY_CONFIG.models.${model.name}.fallbacks[${i}]`;
      if (!models.has(fallback)) return { path, message: `"${fallback}" is not a configured model` };
      if (fallback === model.name) return { path, message: "a model cannot fall back to itself" };
    }
  }
  return null;
}

/** A tenant entry's own limits, without its end-user settings (resolved in identity.ts). */
function limitsOf(entry: TenantEntryInput): Partial<TenantLimits> {
  const { jwt, perUser, tiers, ...limits } = entry;
  return limits;
}

/**
 * Named tenants start from the default tenant's limits, and may only name configured models. The
 * anonymous tenant `public` starts from them too, with `tenants.ip` as its per-IP limit.
 */
function resolveTenants(
  input: ReadonlyMap<string, TenantEntryInput> | undefined,
  models: ReadonlyMap<string, ModelConfig>,
): Resolved<{ tenants: GatewayConfig["tenants"] }> {
  const defaults = input?.get("default");
  const defaultTenant = { ...DEFAULT_TENANT, ...(defaults && limitsOf(defaults)) };
  // Null is "no limit" here as everywhere in `tenants`: only an absent value takes the default.
  const ipLimit = input?.get("ip")?.requestsPerMinute;
  const ip = { requestsPerMinute: ipLimit === undefined ? 120 : ipLimit };
  const named = new Map<string, TenantLimits>();
  let anonymous: TenantLimits = { ...defaultTenant, ipRequestsPerMinute: ip.requestsPerMinute };
  for (const [name, entry] of input ?? []) {
    if (name === "default" || name === "ip") continue;
    const limits = limitsOf(entry);
    for (const [i, m] of (limits.models ?? []).entries()) {
      if (!models.has(m)) {
        return {
          ok: false,
          problem: { path: `GATEWAY_CONFIG.tenants.${name}.models[${i}]`, message: `"${m}" is not a configured model` },
        };
      }
    }
    if (name === "public") anonymous = { ...anonymous, ...limits };
    else named.set(name, { ...defaultTenant, ...limits });
  }
  return { ok: true, tenants: { default: defaultTenant, ip, public: anonymous, named } };
}

function resolveCache(input: GatewayConfigInput): GatewayConfig["cache"] {
  const cacheTenants = [...(input.cache?.tenants ?? [])];
  return {
    enabled: input.cache?.enabled ?? true,
    ttlSeconds: input.cache?.ttlSeconds ?? 86_400,
    maxEntryBytes: input.cache?.maxEntryBytes ?? 1_048_576,
    disabledTenants: new Set(cacheTenants.filter(([, t]) => t.enabled === false).map(([name]) => name)),
    userScopedTenants: new Set(cacheTenants.filter(([, t]) => t.scope === "user").map(([name]) => name)),
  };
}

export function resolveConfig(raw: unknown): Resolved<{ config: GatewayConfig }> {
  const parsed = gatewayConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) return { ok: false, problem: firstIssue(parsed.error, "GATEWAY_CONFIG") };
  const input = parsed.data;

  const models = resolveModels(input);
  const badFallback = fallbackProblem(models);
  if (badFallback) return { ok: false, problem: badFallback };
  const fallbackOrder = input.fallbackOrder ?? ["cache", "models"];
  if (new Set(fallbackOrder).size !== fallbackOrder.length) {
    return { ok: false, problem: { path: "GATEWAY_CONFIG.fallbackOrder", message: "steps must not repeat" } };
  }
  const tenants = resolveTenants(input.tenants, models);
  if (!tenants.ok) return tenants;
  const identity = resolveIdentity(input.tenants, new Set(models.keys()));
  if (!identity.ok) return identity;
  return {
    ok: true,
    config: {
      models,
      fallbackOrder,
      cache: resolveCache(input),
      retry: { ...DEFAULT_RETRY, ...input.retry },
      limits: { maxBodyBytes: input.limits?.maxBodyBytes ?? 8_388_608 },
      tenants: tenants.tenants,
      identity: identity.value,
      snapshotTtlMs: input.snapshotTtlMs ?? 1000,
      streamRecovery: { mode: "continue", maxContinuations: 1, ...input.streamRecovery },
    },
  };
}
