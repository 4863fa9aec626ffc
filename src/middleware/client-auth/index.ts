import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";
import { sha256Hex } from "../../core/crypto";
import { unauthorized } from "../../core/errors";

/**
 * Resolves the caller's tenant from `Authorization: Bearer <key>` by the key's SHA-256 digest.
 * With ALLOW_ANONYMOUS, a caller without a known key is the `public` tenant (SDKs insist on
 * sending some key, so an unknown one is treated as none rather than refused).
 */
export function clientAuth(): MiddlewareHandler<AppEnv> {
  return async function clientAuth(c, next) {
    const { clientKeys, allowAnonymous } = c.get("settings");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
    const tenant = match?.[1] !== undefined ? clientKeys.get(await sha256Hex(match[1])) : undefined;
    if (tenant !== undefined) c.set("tenant", tenant);
    else if (allowAnonymous) c.set("tenant", "public");
    else if (match === null) throw unauthorized("Missing client key: send `Authorization: Bearer <key>`.");
    else throw unauthorized("Invalid client key.");
    await next();
  };
}
