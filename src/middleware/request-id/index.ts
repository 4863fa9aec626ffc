import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";

const VALID = /^[A-Za-z0-9._-]{1,128}$/;

/** Echoes a caller's `x-request-id` when it is safe to log and return, otherwise mints one. */
export function requestId(): MiddlewareHandler<AppEnv> {
  return async function requestId(c, next) {
    const given = c.req.header("x-request-id");
    const id = given !== undefined && VALID.test(given) ? given : crypto.randomUUID();
    c.set("requestId", id);
    await next();
    c.res.headers.set("x-request-id", id);
  };
}
