import { Hono } from "hono";
import type { AppEnv } from "./app-env";
import { chatCompletions } from "./chat/route";
import { parseOrigins } from "./config/settings";
import { GatewayError, methodNotAllowed, notFound, renderError } from "./core/errors";
import { log } from "./core/log";
import type { IpAdmission, ServicesFactory } from "./core/services";
import type { JwksCache } from "./identity/jwks";
import { bodyLimit } from "./middleware/body-limit";
import { clientAuth } from "./middleware/client-auth";
import { cors } from "./middleware/cors";
import { ipLimit } from "./middleware/ip-limit";
import { requestId } from "./middleware/request-id";
import { settings } from "./middleware/settings";

export interface GatewayDeps {
  services: ServicesFactory;
  /** The per-IP limit, checked (and counted) before the chat route reads the body. */
  admitIp: IpAdmission;
  /** The JWT tenants' signing keys as this isolate caches them. */
  jwks: JwksCache;
  /** Extra routes mounted by the entry point (admin, the simulated upstream in dev mode). */
  mount?: (app: Hono<AppEnv>) => void;
}

let originsMemo: { raw: string | undefined; value: ReturnType<typeof parseOrigins> } = { raw: undefined, value: new Set() };

/** The Hono app: middleware → routes, every failure rendered by the one onError below. */
export function createApp(deps: GatewayDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(requestId());
  app.use(
    "/v1/*",
    cors({
      origins: (c) => {
        if (originsMemo.raw !== c.env.ALLOWED_ORIGINS)
          originsMemo = { raw: c.env.ALLOWED_ORIGINS, value: parseOrigins(c.env.ALLOWED_ORIGINS) };
        return originsMemo.value;
      },
    }),
  );
  app.use(settings());

  app.get("/healthz", (c) => {
    const { devMode, warnings } = c.get("settings");
    return c.json(devMode ? { status: "ok", devMode: true, warnings } : { status: "ok" });
  });

  app.use("/v1/*", clientAuth(deps.jwks));
  app.get("/v1/models", (c) => {
    const data = [...c.get("settings").config.models.keys()].map((id) => ({
      id,
      object: "model",
      created: 0,
      owned_by: "holysheep",
    }));
    return c.json({ object: "list", data });
  });
  app.post(
    "/v1/chat/completions",
    ipLimit(deps.admitIp),
    bodyLimit({ maxBytes: (c) => c.get("settings").config.limits.maxBodyBytes }),
    chatCompletions(deps.services),
  );
  app.all("/v1/chat/completions", methodNotAllowed("POST"));
  app.all("/v1/models", methodNotAllowed("GET"));
  app.all("/healthz", methodNotAllowed("GET"));
  deps.mount?.(app);

  app.notFound((c) => renderError(notFound(`Unknown route: ${c.req.method} ${new URL(c.req.url).pathname}`)));
  app.onError((err, c) => {
    if (err instanceof GatewayError) return renderError(err);
    log("error", "unhandled_error", { requestId: c.get("requestId"), error: err instanceof Error ? err.message : String(err) });
    return renderError(new GatewayError(500, "server_error", "internal_error", "The gateway failed unexpectedly."));
  });
  return app;
}
