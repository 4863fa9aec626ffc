import { z } from "zod";

/**
 * The end-user settings of a tenant (DESIGN §14): `jwt`, `perUser` and `tiers`. Algorithms are a
 * closed list, so `none` (or a typo) cannot be configured at all.
 */
export const JWT_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
  "HS256",
  "HS384",
  "HS512",
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

const positiveInt = z.int().min(1);

export const jwtSchema = z.strictObject({
  issuer: z.string().min(1),
  audience: z.string().min(1),
  jwksUrl: z.string().min(1).optional(),
  /** The name of a Workers secret holding an HS256 key (never the key itself). */
  secret: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "must name a Workers secret")
    .optional(),
  algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).optional(),
  userClaim: z.string().min(1).max(128).optional(),
  clockSkewSeconds: z.int().min(0).max(600).optional(),
  maxLifetimeSeconds: positiveInt.optional(),
  required: z.boolean().optional(),
  jwksCacheSeconds: z.int().min(30).optional(),
});

export const userLimitsSchema = z
  .strictObject({
    requestsPerMinute: positiveInt.nullable(),
    dailyBudgetUsd: z.number().min(0).nullable(),
    maxTokens: positiveInt.nullable(),
    models: z.array(z.string().min(1)).nullable(),
  })
  .partial();

export type JwtInput = z.infer<typeof jwtSchema>;
export type UserLimitsInput = z.infer<typeof userLimitsSchema>;
