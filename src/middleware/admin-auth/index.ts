import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";
import { digestsEqual, sha256 } from "../../core/crypto";
import { GatewayError, unauthorized } from "../../core/errors";

export interface AdminAuthOptions {
  /**
   * The dashboard page: it carries no data and needs no token, and a top-level GET navigation to
   * it is answered from any site (an operator clicks its URL in a chat); the API stays same-origin.
   */
  page: boolean;
}

/** A link followed in the browser's own window: no frame, no script, no form post. */
function topLevelNavigation(c: Context<AppEnv>): boolean {
  const dest = c.req.header("sec-fetch-dest");
  return c.req.method === "GET" && c.req.header("sec-fetch-mode") === "navigate" && (dest === undefined || dest === "document");
}

function crossOrigin(c: Context<AppEnv>): boolean {
  const origin = c.req.header("origin");
  return c.req.header("sec-fetch-site") === "cross-site" || (origin !== undefined && origin !== new URL(c.req.url).origin);
}

/**
 * Admin access (DESIGN §5): `Authorization: Bearer <ADMIN_TOKEN>`, both sides SHA-256 hashed and
 * compared in constant time. A token in the query string is ignored, and no cross-origin request
 * to the API is answered, so a page elsewhere cannot drive the admin API with a stolen token.
 */
export function adminAuth(options: AdminAuthOptions): MiddlewareHandler<AppEnv> {
  return async function adminAuth(c, next) {
    if (crossOrigin(c) && !(options.page && topLevelNavigation(c))) {
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
    if (!options.page) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
      if (!match?.[1]) throw unauthorized("Missing admin token: send `Authorization: Bearer <ADMIN_TOKEN>`.");
      if (!digestsEqual(await sha256(match[1]), expected)) throw unauthorized("Invalid admin token.");
    }
    await next();
  };
}
