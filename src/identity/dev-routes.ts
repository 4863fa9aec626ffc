import type { Context, Hono } from "hono";
import type { AppEnv } from "../app-env";
import { invalidRequest, notFound } from "../core/errors";
import { devKeys, mintDevToken } from "./dev";

/** Any page may ask: dev mode serves a newcomer's example app from wherever it runs. */
const OPEN = { "access-control-allow-origin": "*", "cache-control": "no-store" };

function devOnly(c: Context<AppEnv>): void {
  if (!c.get("settings").devMode) throw notFound(`Unknown route: ${c.req.method} ${new URL(c.req.url).pathname}`);
}

/**
 * Dev mode's token issuer (DESIGN §14): `/__dev/jwks.json` publishes the public half of the key
 * pair the isolate made, `/__dev/token?tenant=T&sub=S[&plan=P]` mints an ES256 token for a JWT
 * tenant as its auth provider would. Without DEV_MODE both are unknown routes.
 */
export function mountDevIdentity(app: Hono<AppEnv>): void {
  app.get("/__dev/jwks.json", async (c) => {
    devOnly(c);
    return c.json((await devKeys()).jwks, 200, OPEN);
  });
  app.get("/__dev/token", async (c) => {
    devOnly(c);
    const name = c.req.query("tenant") ?? "";
    const tenant = c.get("settings").config.identity.tenants.get(name);
    if (!tenant) throw invalidRequest(`No JWT tenant named "${name.slice(0, 64)}" is configured.`, "tenant");
    const sub = c.req.query("sub") ?? "";
    if (sub.length === 0 || sub.length > 256) throw invalidRequest("sub must be 1 to 256 characters.", "sub");
    const plan = c.req.query("plan");
    const minted = await mintDevToken(tenant, sub, plan === undefined || plan === "" ? null : plan);
    return c.json({ token: minted.token, tokenType: "Bearer", expiresIn: minted.expiresIn, tenant: name, sub }, 200, OPEN);
  });
}
