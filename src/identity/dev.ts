import { createLocalJWKSet, exportJWK, generateKeyPair, type JSONWebKeySet, SignJWT } from "jose";
import type { TenantIdentity } from "../config/identity";
import type { KeySet } from "./jwks";

/** The `kid` of dev mode's signing key. */
const DEV_KID = "dev-1";

interface DevKeys {
  privateKey: CryptoKey;
  jwks: JSONWebKeySet;
  set: KeySet;
}

let pair: Promise<DevKeys> | null = null;

async function makeKeys(): Promise<DevKeys> {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: DEV_KID, alg: "ES256", use: "sig" }] };
  return { privateKey, jwks, set: createLocalJWKSet(jwks) };
}

/**
 * Dev mode's ES256 key pair, made on the isolate's first use (Workers make no random values at
 * global scope) and kept for its life; it exists in memory only, so a restart invalidates its tokens.
 */
export function devKeys(): Promise<DevKeys> {
  pair ??= makeKeys().catch((err: unknown) => {
    pair = null;
    throw err;
  });
  return pair;
}

/** The longest life of a dev token: an hour, or less if the tenant allows less. */
const DEV_TOKEN_SECONDS = 3_600;

/** A token for `sub` of a JWT tenant, as its auth provider would issue one; `tier` goes in its tier claim. */
export async function mintDevToken(
  tenant: TenantIdentity,
  sub: string,
  tier: string | null,
): Promise<{ token: string; expiresIn: number }> {
  const { privateKey } = await devKeys();
  const expiresIn = Math.min(DEV_TOKEN_SECONDS, tenant.jwt.maxLifetimeSeconds);
  const claims: Record<string, unknown> = { [tenant.jwt.userClaim]: sub };
  if (tier !== null) claims[tenant.tiers?.claim ?? "plan"] = tier;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: DEV_KID, typ: "JWT" })
    .setIssuer(tenant.jwt.issuer)
    .setAudience(tenant.jwt.audience)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(`${expiresIn}s`)
    .sign(privateKey);
  return { token, expiresIn };
}
