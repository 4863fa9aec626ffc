import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";

export interface CorsOptions {
  /** Resolved per request because the allowed origins come from the validated settings. */
  origins: (c: Context<AppEnv>) => "*" | ReadonlySet<string>;
}

const ALLOWED_HEADERS = new Set([
  "authorization",
  "content-type",
  "x-request-id",
  "cache-control",
  "openai-organization",
  "openai-project",
  "openai-beta",
]);
const ALLOWED_PREFIXES = ["x-stainless-", "x-gateway-"];
const EXPOSED = [
  "x-request-id",
  "x-gateway-model",
  "x-gateway-source",
  "x-gateway-circuit",
  "x-gateway-cache-age",
  "retry-after",
  "retry-after-ms",
  "x-should-retry",
].join(", ");

function headerAllowed(name: string): boolean {
  return ALLOWED_HEADERS.has(name) || ALLOWED_PREFIXES.some((p) => name.startsWith(p));
}

function appendVary(headers: Headers) {
  const vary = headers.get("vary");
  if (!vary) headers.set("vary", "Origin");
  else if (!/\borigin\b/i.test(vary)) headers.set("vary", `${vary}, Origin`);
}

/**
 * CORS as DESIGN §5 gives it. Preflights echo only the request headers the gateway accepts (the
 * OpenAI SDK sends a growing family of `x-stainless-*` headers, hence the prefixes).
 */
export function cors(options: CorsOptions): MiddlewareHandler<AppEnv> {
  return async function cors(c, next) {
    const origin = c.req.header("origin");
    const allowed = options.origins(c);
    const permitted = origin !== undefined && (allowed === "*" || allowed.has(origin));

    if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
      const headers = new Headers();
      appendVary(headers);
      if (permitted) {
        const requested = (c.req.header("access-control-request-headers") ?? "")
          .split(",")
          .map((h) => h.trim().toLowerCase())
          .filter((h) => h.length > 0 && headerAllowed(h));
        headers.set("access-control-allow-origin", origin);
        headers.set("access-control-allow-methods", "GET, POST, OPTIONS");
        if (requested.length > 0) headers.set("access-control-allow-headers", requested.join(", "));
        headers.set("access-control-max-age", "600");
      }
      return new Response(null, { status: 204, headers });
    }

    await next();
    appendVary(c.res.headers);
    if (permitted) {
      c.res.headers.set("access-control-allow-origin", origin);
      c.res.headers.set("access-control-expose-headers", EXPOSED);
    }
  };
}
