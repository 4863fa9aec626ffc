import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";
import { digestsEqual, sha256 } from "../../core/crypto";
import { GatewayError, unauthorized } from "../../core/errors";

export interface AdminAuthOptions {
  /** The dashboard page itself carries no data: it only needs the admin API to be enabled. */
  requireToken: boolean;
}

/**
 * Admin access (DESIGN §5): `Authorization: Bearer <ADMIN_TOKEN>`, both sides SHA-256 hashed and
 * compared in constant time. A token in the query string is ignored, and no cross-origin request
 * is answered, so a page elsewhere cannot drive the admin API with a stolen token.
 */
export function adminAuth(options: AdminAuthOptions): MiddlewareHandler<AppEnv> {
  return async function adminAuth(c, next) {
    const origin = c.req.header("origin");
    const crossSite = c.req.header("sec-fetch-site") === "cross-site";
    if (crossSite || (origin !== undefined && origin !== new URL(c.req.url).origin)) {
      throw new GatewayError(
        403,
        "permission_error",
        "cross_origin_forbidden",
        "The admin API does not answer cross-origin requests.",
      );
    }
    const expected = c.get("settings").adminTokenDigest;
    if (expected === null) {
      throw new GatewayError(
        403,
        "permission_error",
        "admin_disabled",
        "The admin API is disabled: set the ADMIN_TOKEN secret to enable it.",
      );
    }
    if (options.requireToken) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
      if (!match?.[1]) throw unauthorized("Missing admin token: send `Authorization: Bearer <ADMIN_TOKEN>`.");
      if (!digestsEqual(await sha256(match[1]), expected)) throw unauthorized("Invalid admin token.");
    }
    await next();
  };
}
