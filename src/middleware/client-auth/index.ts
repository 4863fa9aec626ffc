import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";
import { sha256Hex } from "../../core/crypto";
import { unauthorized } from "../../core/errors";
import { jwtRequired } from "../../identity/errors";
import type { JwksCache } from "../../identity/jwks";
import { looksLikeJwt, verifyToken } from "../../identity/verify";

/**
 * Resolves the caller from `Authorization: Bearer <token>`. A JWT (three base64url segments) is
 * verified against the tenant its issuer names and never falls back to a static key (DESIGN §14);
 * anything else is a client key, looked up by its SHA-256 digest, and refused when its tenant
 * requires JWTs. With ALLOW_ANONYMOUS, a caller without a known key is the `public` tenant (SDKs
 * insist on sending some key, so an unknown one is treated as none rather than refused).
 */
export function clientAuth(jwks: JwksCache): MiddlewareHandler<AppEnv> {
  return async function clientAuth(c, next) {
    const settings = c.get("settings");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
    const token = match?.[1];
    c.set("identity", null);
    if (token !== undefined && looksLikeJwt(token)) {
      const waitUntil = (work: Promise<unknown>) => c.executionCtx.waitUntil(work);
      const identity = await verifyToken(token, { settings, jwks, waitUntil, requestId: c.get("requestId") });
      c.set("identity", identity);
      c.set("tenant", identity.tenant);
      return next();
    }
    const tenant = token !== undefined ? settings.clientKeys.get(await sha256Hex(token)) : undefined;
    if (tenant !== undefined) {
      if (settings.config.identity.tenants.get(tenant)?.jwt.required) throw jwtRequired();
      c.set("tenant", tenant);
    } else if (settings.allowAnonymous) c.set("tenant", "public");
    else if (match === null) throw unauthorized("Missing client key: send `Authorization: Bearer <key>`.");
    else throw unauthorized("Invalid client key.");
    await next();
  };
}
