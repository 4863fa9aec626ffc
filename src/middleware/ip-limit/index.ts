import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";
import type { IpAdmission } from "../../core/services";

/**
 * Admits the request against its client IP's limit within its tenant before anything reads the
 * body: a caller over its limit is refused without its body being read or parsed, and every
 * request admitted here counts, so one refused later for its body (400, 413) costs the IP too.
 */
export function ipLimit(admit: IpAdmission): MiddlewareHandler<AppEnv> {
  return async function ipLimit(c, next) {
    await admit({
      env: c.env,
      settings: c.get("settings"),
      waitUntil: (work) => c.executionCtx.waitUntil(work),
      tenant: c.get("tenant"),
      ip: c.req.header("cf-connecting-ip") ?? null,
    });
    await next();
  };
}
