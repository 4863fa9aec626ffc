import { z } from "zod";
import { jwtSchema, userLimitsSchema } from "./identity-schema";

/**
 * GATEWAY_CONFIG as DESIGN §7 defines it. Every key is optional in the input; `resolveConfig`
 * (defaults.ts) fills DESIGN's defaults. Objects are strict so a misspelt key is an error that
 * names it rather than a setting silently ignored.
 */
const positiveInt = z.int().min(1);
const ms = z.int().min(1);

export const breakerSchema = z.strictObject({
  trip: z.enum(["consecutive", "rate"]),
  failureThreshold: positiveInt,
  failureRateThreshold: z.number().gt(0).max(1),
  minimumCalls: positiveInt,
  windowMs: ms,
  successThreshold: positiveInt,
  openTimeoutMs: ms,
  halfOpenMaxCalls: positiveInt,
  /** A call whose first token came later than this is slow (DESIGN §18); null: none is. */
  slowCallMs: ms.nullable(),
  slowCallRateThreshold: z.number().gt(0).max(1),
});

export const timeoutsSchema = z.strictObject({
  requestMs: ms,
  streamIdleMs: ms,
  streamTotalMs: ms,
  deadlineMs: ms,
  streamWallMs: ms,
  recoveryMs: ms,
});

const price = z.union([z.number().min(0), z.strictObject({ input: z.number().min(0), output: z.number().min(0) })]);

const modelSchema = z.strictObject({
  fallbacks: z.array(z.string().min(1)).optional(),
  priceUsdPerMTok: price.optional(),
  breaker: breakerSchema.partial().optional(),
  timeouts: timeoutsSchema.partial().optional(),
  cache: z.strictObject({ enabled: z.boolean() }).partial().optional(),
  /** "always": ask for a stream whatever the client asked (DESIGN §12); "as_requested": the old way. */
  upstreamStreaming: z.enum(["always", "as_requested"]).optional(),
  /** False for a model that rejects a trailing assistant message: it never continues a stream. */
  prefill: z.boolean().optional(),
  /** The model's context length in tokens: a context overflow falls through only to larger ones. */
  contextTokens: positiveInt.optional(),
  /** The most completion tokens the model writes: what a request reserves when nothing smaller bounds it. */
  maxOutputTokens: positiveInt.optional(),
});

/** The largest `n` OpenAI accepts, and so what `maxChoices: null` allows. */
export const MAX_CHOICES = 128;

const tenantLimits = z.strictObject({
  requestsPerMinute: positiveInt.nullable(),
  dailyBudgetUsd: z.number().min(0).nullable(),
  models: z.array(z.string().min(1)).nullable(),
  maxTokens: positiveInt.nullable(),
  /** Bounds `n`; null: OpenAI's own ceiling (MAX_CHOICES). */
  maxChoices: positiveInt.max(MAX_CHOICES).nullable(),
  /** Requests per minute from one client IP (an IPv6 /64) within the tenant. */
  ipRequestsPerMinute: positiveInt.nullable(),
});

export const tenantNamePattern = /^[A-Za-z0-9_-]{1,64}$/;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A JSON object keyed by tenant, read as a Map: z.record would silently drop a `__proto__` key, and
 * a plain object would answer `constructor` from its prototype. Issues keep the key in their path.
 */
function byTenant<T extends z.ZodType>(value: T) {
  return z.preprocess((v) => (isPlainObject(v) ? new Map(Object.entries(v)) : v), z.map(z.string(), value));
}

/**
 * A tenant's entry in `tenants`: its limits, and for a tenant whose end users bring JWTs, how
 * their tokens are verified and what each user may spend (DESIGN §14). Tier levels are read as a
 * Map: a claim's value picks one, and `constructor` must not find the prototype's.
 */
const tenantEntry = tenantLimits.partial().extend({
  jwt: jwtSchema.optional(),
  perUser: userLimitsSchema.optional(),
  tiers: z.strictObject({ claim: z.string().min(1).max(128), levels: byTenant(userLimitsSchema) }).optional(),
});

export const gatewayConfigSchema = z.strictObject({
  breaker: breakerSchema.partial().optional(),
  models: z.record(z.string().min(1).max(128), modelSchema).optional(),
  fallbackOrder: z
    .array(z.enum(["cache", "models"]))
    .max(2)
    .optional(),
  cache: z
    .strictObject({
      enabled: z.boolean(),
      ttlSeconds: z.int().min(60),
      maxEntryBytes: positiveInt,
      /** `scope: "user"`: an answer serves only the end user whose request produced it (DESIGN §14). */
      tenants: byTenant(z.strictObject({ enabled: z.boolean(), scope: z.enum(["tenant", "user"]) }).partial()),
    })
    .partial()
    .optional(),
  timeouts: timeoutsSchema.partial().optional(),
  retry: z
    .strictObject({
      maxRetries: z.int().min(0).max(10),
      maxAttempts: positiveInt.max(20),
      baseDelayMs: z.int().min(0),
      maxDelayMs: ms,
      /** A 429 from the requested model with a Retry-After up to this long is waited for, once. */
      waitOnRetryAfterMs: z.int().min(0),
    })
    .partial()
    .optional(),
  limits: z.strictObject({ maxBodyBytes: positiveInt }).partial().optional(),
  tenants: byTenant(tenantEntry).optional(),
  snapshotTtlMs: z.int().min(10).optional(),
  streamRecovery: z
    .strictObject({ mode: z.enum(["continue", "off"]), maxContinuations: z.int().min(0).max(5) })
    .partial()
    .optional(),
});

export type GatewayConfigInput = z.infer<typeof gatewayConfigSchema>;
export type BreakerSettings = z.infer<typeof breakerSchema>;
export type Timeouts = z.infer<typeof timeoutsSchema>;
export type TenantLimits = z.infer<typeof tenantLimits>;
export type TenantEntryInput = z.infer<typeof tenantEntry>;
