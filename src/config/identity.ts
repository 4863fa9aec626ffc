import type { JwtAlgorithm, JwtInput, UserLimitsInput } from "./identity-schema";
import { type TenantEntryInput, tenantNamePattern } from "./schema";

/** Where a tenant's token keys come from: a JWKS URL, a named HS256 secret, or dev mode's own pair. */
export type JwtKeySource = { kind: "jwks"; url: string } | { kind: "secret"; name: string } | { kind: "dev" };

export interface JwtSettings {
  issuer: string;
  audience: string;
  keys: JwtKeySource;
  algorithms: readonly JwtAlgorithm[];
  userClaim: string;
  clockSkewSeconds: number;
  maxLifetimeSeconds: number;
  /** Static client keys of this tenant are refused on /v1/* (401 `jwt_required`). */
  required: boolean;
  jwksCacheSeconds: number;
}

/** One user's limits; null: no limit (for `models`: the tenant's). */
export interface UserLimits {
  requestsPerMinute: number | null;
  dailyBudgetUsd: number | null;
  maxTokens: number | null;
  models: string[] | null;
}

export interface TenantIdentity {
  tenant: string;
  jwt: JwtSettings;
  perUser: UserLimits;
  /** `levels` hold complete limits: each level is `perUser` overridden field by field. */
  tiers: { claim: string; levels: ReadonlyMap<string, UserLimits> } | null;
}

export interface IdentityConfig {
  /** The tenants whose end users bring JWTs. */
  tenants: ReadonlyMap<string, TenantIdentity>;
  /** A token's (unverified) `iss` picks among these; issuer and audience together name one tenant. */
  byIssuer: ReadonlyMap<string, readonly TenantIdentity[]>;
}

/** The issuer of the tokens dev mode mints (`/__dev/token`), and its `demo` tenant. */
export const DEV_ISSUER = "urn:edge-ai-gateway:dev";
export const DEV_AUDIENCE = "edge-gateway";
export const DEV_TENANT = "demo";

const NO_USER_LIMITS: UserLimits = { requestsPerMinute: null, dailyBudgetUsd: null, maxTokens: null, models: null };
const ASYMMETRIC: readonly JwtAlgorithm[] = ["RS256", "ES256", "EdDSA"];
const isHmac = (alg: JwtAlgorithm) => alg.startsWith("HS");
/** Names the gateway itself reads: a JWT secret naming one would make it a token-signing key. */
const OWN_SECRETS = new Set(["HOLYSHEEP_API_KEY", "ADMIN_TOKEN", "CLIENT_KEYS", "ALERT_WEBHOOK_URL"]);

/** resolve.ts's ConfigProblem (it imports this module, so the shape is spelt here). */
interface ConfigProblem {
  path: string;
  message: string;
}

type Resolved<T> = { ok: true; value: T } | { ok: false; problem: ConfigProblem };
const fail = (path: string, message: string): { ok: false; problem: ConfigProblem } => ({
  ok: false,
  problem: { path, message },
});

/** `https:`, or plain `http:` for a JWKS on this machine (tests, dev). */
function jwksUrlProblem(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "is not a URL";
  }
  if (url.protocol === "https:") return null;
  if (url.protocol === "http:" && (url.hostname === "localhost" || url.hostname === "127.0.0.1")) return null;
  return "must be an https: URL (http: only for localhost or 127.0.0.1)";
}

/**
 * A tenant's `jwt`, checked so that an HMAC algorithm is only ever verified with a named secret
 * and a JWKS key only with an asymmetric algorithm: a public key can never serve as an HMAC secret.
 */
function resolveJwt(jwt: JwtInput, path: string): Resolved<JwtSettings> {
  if (jwt.jwksUrl !== undefined && jwt.secret !== undefined) return fail(`${path}.secret`, "set jwksUrl or secret, not both");
  let keys: JwtKeySource;
  if (jwt.secret !== undefined) {
    if (OWN_SECRETS.has(jwt.secret)) return fail(`${path}.secret`, `must not name the gateway's own ${jwt.secret}`);
    keys = { kind: "secret", name: jwt.secret };
  } else if (jwt.jwksUrl !== undefined) {
    const problem = jwksUrlProblem(jwt.jwksUrl);
    if (problem) return fail(`${path}.jwksUrl`, problem);
    keys = { kind: "jwks", url: jwt.jwksUrl };
  } else return fail(`${path}.jwksUrl`, "is required unless secret names an HS256 secret");
  const algorithms = jwt.algorithms ?? (keys.kind === "secret" ? ["HS256"] : ASYMMETRIC);
  for (const [i, alg] of algorithms.entries()) {
    if (keys.kind === "secret" && !isHmac(alg)) return fail(`${path}.algorithms[${i}]`, `${alg} needs a jwksUrl, not a secret`);
    if (keys.kind === "jwks" && isHmac(alg))
      return fail(`${path}.algorithms[${i}]`, `${alg} needs a secret: a JWKS holds public keys`);
  }
  return {
    ok: true,
    value: {
      issuer: jwt.issuer,
      audience: jwt.audience,
      keys,
      algorithms,
      userClaim: jwt.userClaim ?? "sub",
      clockSkewSeconds: jwt.clockSkewSeconds ?? 30,
      maxLifetimeSeconds: jwt.maxLifetimeSeconds ?? 86_400,
      required: jwt.required ?? true,
      jwksCacheSeconds: jwt.jwksCacheSeconds ?? 600,
    },
  };
}

function modelsProblem(limits: UserLimitsInput, path: string, models: ReadonlySet<string>): ConfigProblem | null {
  for (const [i, m] of (limits.models ?? []).entries()) {
    if (!models.has(m)) return { path: `${path}.models[${i}]`, message: `"${m}" is not a configured model` };
  }
  return null;
}

function resolveTenantIdentity(
  tenant: string,
  entry: TenantEntryInput,
  models: ReadonlySet<string>,
): Resolved<TenantIdentity | null> {
  const path = `GATEWAY_CONFIG.tenants.${tenant}`;
  if (entry.jwt === undefined) {
    if (entry.perUser !== undefined) return fail(`${path}.perUser`, "needs jwt: users are known only from their tokens");
    if (entry.tiers !== undefined) return fail(`${path}.tiers`, "needs jwt: tiers are read from token claims");
    return { ok: true, value: null };
  }
  if (["default", "ip", "public"].includes(tenant)) return fail(`${path}.jwt`, "is set per named tenant");
  if (!tenantNamePattern.test(tenant)) return fail(`${path}.jwt`, "the tenant must match [A-Za-z0-9_-]{1,64}");
  const jwt = resolveJwt(entry.jwt, `${path}.jwt`);
  if (!jwt.ok) return jwt;
  const perUser = { ...NO_USER_LIMITS, ...entry.perUser };
  const perUserProblem = modelsProblem(perUser, `${path}.perUser`, models);
  if (perUserProblem) return { ok: false, problem: perUserProblem };
  let tiers: TenantIdentity["tiers"] = null;
  if (entry.tiers !== undefined) {
    const levels = new Map<string, UserLimits>();
    for (const [name, level] of entry.tiers.levels) {
      const problem = modelsProblem(level, `${path}.tiers.levels.${name}`, models);
      if (problem) return { ok: false, problem };
      levels.set(name, { ...perUser, ...level });
    }
    tiers = { claim: entry.tiers.claim, levels };
  }
  return { ok: true, value: { tenant, jwt: jwt.value, perUser, tiers } };
}

/** Indexes tenants by issuer; two with the same issuer and audience could not be told apart. */
export function indexIdentities(tenants: readonly TenantIdentity[]): Resolved<IdentityConfig> {
  const byIssuer = new Map<string, TenantIdentity[]>();
  for (const t of tenants) {
    const same = byIssuer.get(t.jwt.issuer) ?? [];
    const twin = same.find((o) => o.jwt.audience === t.jwt.audience);
    if (twin) {
      return fail(
        `GATEWAY_CONFIG.tenants.${t.tenant}.jwt.audience`,
        `tenant "${twin.tenant}" has the same issuer and audience: a token could not name its tenant`,
      );
    }
    byIssuer.set(t.jwt.issuer, [...same, t]);
  }
  return { ok: true, value: { tenants: new Map(tenants.map((t) => [t.tenant, t])), byIssuer } };
}

export function resolveIdentity(
  input: ReadonlyMap<string, TenantEntryInput> | undefined,
  models: ReadonlySet<string>,
): Resolved<IdentityConfig> {
  const found: TenantIdentity[] = [];
  for (const [tenant, entry] of input ?? []) {
    const resolved = resolveTenantIdentity(tenant, entry, models);
    if (!resolved.ok) return resolved;
    if (resolved.value) found.push(resolved.value);
  }
  return indexIdentities(found);
}

/**
 * Dev mode's `demo` tenant: tokens from `/__dev/token`, verified with the key pair the isolate
 * made at start. Added only when the configuration has no `demo` JWT tenant of its own.
 */
export function withDevTenant(identity: IdentityConfig): Resolved<IdentityConfig> {
  if (identity.tenants.has(DEV_TENANT)) return { ok: true, value: identity };
  const demo: TenantIdentity = {
    tenant: DEV_TENANT,
    jwt: {
      issuer: DEV_ISSUER,
      audience: DEV_AUDIENCE,
      keys: { kind: "dev" },
      algorithms: ["ES256"],
      userClaim: "sub",
      clockSkewSeconds: 30,
      maxLifetimeSeconds: 86_400,
      required: true,
      jwksCacheSeconds: 600,
    },
    perUser: { ...NO_USER_LIMITS, requestsPerMinute: 20 },
    tiers: { claim: "plan", levels: new Map([["pro", { ...NO_USER_LIMITS, requestsPerMinute: 120 }]]) },
  };
  return indexIdentities([...identity.tenants.values(), demo]);
}
