import {
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyOptions,
  jwtVerify,
  type ProtectedHeaderParameters,
} from "jose";
import type { IdentityConfig, JwtSettings, TenantIdentity } from "../config/identity";
import type { Settings } from "../config/settings";
import { sha256Hex } from "../core/crypto";
import { GatewayError } from "../core/errors";
import type { Identity } from "../core/identity";
import { log } from "../core/log";
import { devKeys } from "./dev";
import { identityUnavailable, invalidToken, tokenExpired } from "./errors";
import type { JwksCache, KeySet } from "./jwks";

/** A bearer token longer than this is refused before it is decoded (DESIGN §14). */
const MAX_TOKEN_BYTES = 8 * 1024;
/** A user id longer than this is no user id: it would become storage and object names. */
const MAX_USER_LENGTH = 256;
/** Three base64url segments (the signature empty for `alg: none`, refused later): a JWT. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export const looksLikeJwt = (token: string): boolean => JWT_SHAPE.test(token);

export interface VerifyContext {
  settings: Settings;
  jwks: JwksCache;
  waitUntil: (work: Promise<unknown>) => void;
  requestId: string;
}

/** The token's header and claims, unverified: only to pick the tenant whose keys then verify it. */
function peek(token: string): { header: ProtectedHeaderParameters; claims: JWTPayload } {
  try {
    return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
  } catch {
    throw invalidToken("The token is not a well-formed JWT.");
  }
}

/** The one tenant whose issuer and audience the token names; no match never falls back to static keys. */
function tenantFor(identity: IdentityConfig, claims: JWTPayload): TenantIdentity {
  const candidates = typeof claims.iss === "string" ? identity.byIssuer.get(claims.iss) : undefined;
  if (!candidates) throw invalidToken("The token's issuer is not accepted here.");
  const audiences = typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  const matching = candidates.filter((t) => audiences.includes(t.jwt.audience));
  const [tenant] = matching;
  if (tenant === undefined) throw invalidToken("The token's audience is not accepted here.");
  if (matching.length > 1) throw invalidToken("The token's audiences name more than one tenant.");
  return tenant;
}

/** jose's verdicts in the gateway's words: an expired or not-yet-valid token is the app's to renew. */
function refusal(err: unknown) {
  if (err instanceof errors.JWTExpired) return tokenExpired("The token has expired.");
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf") return tokenExpired("The token is not valid yet.");
    if (err.reason === "missing") return invalidToken(`The token has no ${err.claim} claim.`);
    return invalidToken(`The token's ${err.claim} claim is not accepted here.`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalidToken("The token's algorithm is not accepted here.");
  if (err instanceof errors.JWKSNoMatchingKey) return invalidToken("No signing key of the issuer matches the token.");
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalidToken("The token's signature does not verify.");
  return invalidToken("The token could not be verified.");
}

/** Verifies with a key set; several candidate keys (no `kid`) are each tried, as jose asks. */
async function verifyWithSet(token: string, key: KeySet | CryptoKey | Uint8Array, options: JWTVerifyOptions) {
  try {
    return (await jwtVerify(token, key, options)).payload;
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    for await (const candidate of err) {
      try {
        return (await jwtVerify(token, candidate, options)).payload;
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

/**
 * Verifies against the tenant's JWKS: cached keys first; a `kid` none of them has earns one
 * refetch (at most one per URL every 30 s), after which it is simply unknown.
 */
async function verifyWithJwks(token: string, jwt: JwtSettings, url: string, options: JWTVerifyOptions, ctx: VerifyContext) {
  const cached = await ctx.jwks.keys(url, jwt.jwksCacheSeconds * 1000, ctx.waitUntil);
  if ("unavailableMs" in cached) throw identityUnavailable(cached.unavailableMs);
  try {
    return await verifyWithSet(token, cached.set, options);
  } catch (err) {
    if (!(err instanceof errors.JWKSNoMatchingKey)) throw refusal(err);
  }
  const fresh = await ctx.jwks.refetch(url, ctx.waitUntil);
  if ("unchanged" in fresh) throw invalidToken("No signing key of the issuer matches the token.");
  if ("unavailableMs" in fresh) throw identityUnavailable(fresh.unavailableMs);
  try {
    return await verifyWithSet(token, fresh.set, options);
  } catch (err) {
    throw refusal(err);
  }
}

async function verifySignature(token: string, tenant: TenantIdentity, ctx: VerifyContext): Promise<JWTPayload> {
  const { jwt } = tenant;
  const options: JWTVerifyOptions = {
    issuer: jwt.issuer,
    audience: jwt.audience,
    algorithms: [...jwt.algorithms],
    clockTolerance: jwt.clockSkewSeconds,
    requiredClaims: ["exp"],
  };
  if (jwt.keys.kind === "jwks") return verifyWithJwks(token, jwt, jwt.keys.url, options, ctx);
  // An HMAC key comes only from the tenant's named secret: never from a JWKS, so never a public key.
  const key = jwt.keys.kind === "secret" ? ctx.settings.jwtSecrets.get(jwt.keys.name) : (await devKeys()).set;
  if (key === undefined) throw invalidToken("The token could not be verified.");
  try {
    return await verifyWithSet(token, key, options);
  } catch (err) {
    throw refusal(err);
  }
}

function userOf(payload: JWTPayload, claim: string): string | null {
  const raw = payload[claim];
  const user = typeof raw === "string" ? raw : typeof raw === "number" && Number.isFinite(raw) ? String(raw) : "";
  return user.length > 0 && user.length <= MAX_USER_LENGTH ? user : null;
}

/** The verified token's user and tier (an unknown tier value is no tier: `perUser` applies). */
async function identityOf(payload: JWTPayload, tenant: TenantIdentity): Promise<Identity> {
  const { jwt, tiers } = tenant;
  const user = userOf(payload, jwt.userClaim);
  if (user === null) throw invalidToken(`The token has no ${jwt.userClaim} claim naming its user.`);
  const tierValue = tiers ? payload[tiers.claim] : undefined;
  const tier = typeof tierValue === "string" && tiers?.levels.has(tierValue) ? tierValue : null;
  return { tenant: tenant.tenant, user, tier, userRef: (await sha256Hex(user)).slice(0, 12) };
}

/** `exp - iat` (without `iat`: what is left of it) within the tenant's bound. */
function lifetimeWithin(payload: JWTPayload, jwt: JwtSettings): boolean {
  // An `iat` in the future would stretch the bound; time cannot have started later than now.
  const now = Date.now() / 1000;
  const issuedAt = typeof payload.iat === "number" ? Math.min(payload.iat, now) : now;
  return (payload.exp ?? Number.POSITIVE_INFINITY) - issuedAt <= jwt.maxLifetimeSeconds;
}

/**
 * A bearer JWT verified as DESIGN §14 says: its unverified `iss` (and `aud`) pick the tenant, then
 * jose checks the signature, `alg` against the tenant's list, `iss`, `aud`, `exp` and `nbf` within
 * the skew; the gateway adds the lifetime bound and the user claim. Throws the 401 or 503, logged
 * with the tenant and, once known, the user's SHA-256 prefix (never the user id itself).
 */
export async function verifyToken(token: string, ctx: VerifyContext): Promise<Identity> {
  const seen: { tenant?: string; user?: string } = {};
  try {
    if (token.length > MAX_TOKEN_BYTES) throw invalidToken("The token is longer than 8 KiB.");
    const { header, claims } = peek(token);
    const tenant = tenantFor(ctx.settings.config.identity, claims);
    seen.tenant = tenant.tenant;
    const alg = header.alg;
    // Checked before any key is looked up, so a token the tenant would never accept costs no fetch.
    if (typeof alg !== "string" || !tenant.jwt.algorithms.some((a) => a === alg)) {
      throw invalidToken("The token's algorithm is not accepted here.");
    }
    const payload = await verifySignature(token, tenant, ctx);
    const identity = await identityOf(payload, tenant);
    seen.user = identity.userRef;
    if (!lifetimeWithin(payload, tenant.jwt)) {
      throw invalidToken(`The token lives longer than the ${tenant.jwt.maxLifetimeSeconds} seconds this tenant allows.`);
    }
    return identity;
  } catch (err) {
    if (err instanceof GatewayError) log("info", "jwt_refused", { requestId: ctx.requestId, ...seen, code: err.code });
    throw err;
  }
}
