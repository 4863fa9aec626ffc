import type { Context, Hono } from "hono";
import type { AppEnv } from "../app-env";
import type { Settings } from "../config/settings";
import { invalidRequest, methodNotAllowed, notFound } from "../core/errors";
import { log } from "../core/log";
import { limitsFor } from "../tenants/guard";
import type { IpCount } from "../tenants/ip-counts";
import { tenantBucket, type UsageView } from "../tenants/protocol";

/** Tenants with client keys, with limits of their own, or with end users' tokens (dev mode's `demo` too). */
function knownTenants(settings: Settings): string[] {
  const { tenants, identity } = settings.config;
  const names = new Set([...settings.clientKeys.values(), ...tenants.named.keys(), ...identity.tenants.keys()]);
  if (settings.allowAnonymous) names.add("public");
  return [...names].sort();
}

/** A JWT tenant's per-user limits and tiers (DESIGN §14); null for a tenant without end users. */
function endUsersJson(settings: Settings, tenant: string) {
  const t = settings.config.identity.tenants.get(tenant);
  if (!t) return null;
  const tiers = t.tiers && { claim: t.tiers.claim, levels: Object.fromEntries(t.tiers.levels) };
  return { perUser: t.perUser, tiers };
}

function tenantJson(settings: Settings, tenant: string, usage: UsageView) {
  return {
    tenant,
    limits: limitsFor(settings, tenant),
    ...(tenant === "public" ? { ipLimits: settings.config.tenants.ip } : {}),
    endUsers: endUsersJson(settings, tenant),
    today: { day: usage.day, requests: usage.dayRequests, spendUsd: usage.daySpendUsd },
    thisMinute: { requests: usage.minuteRequests },
  };
}

function tenantOf(c: Context<AppEnv>): string {
  const name = c.req.param("tenant") ?? "";
  if (!knownTenants(c.get("settings")).includes(name))
    throw notFound(`No tenant is named "${name.slice(0, 64)}".`, "tenant_not_found", "tenant");
  return name;
}

const usageOf = (env: Env, tenant: string) => env.TENANTS.getByName(tenantBucket(tenant)).sync([]);

/** The per-IP limit a tenant enforces, and the IP counts it enforces it on (DESIGN §13). */
async function ipsOf(env: Env, settings: Settings, tenant: string) {
  const requestsPerMinute = limitsFor(settings, tenant).ipRequestsPerMinute;
  const topThisMinute: IpCount[] = requestsPerMinute === null ? [] : await env.TENANTS.getByName(tenantBucket(tenant)).topIps();
  return { requestsPerMinute, topThisMinute };
}

/** How many users `/admin/tenants/:tenant/users` lists: `?limit=N`, 1 to 100, default 20. */
const USERS_DEFAULT = 20;
const USERS_MAX = 100;

function usersLimit(raw: string | undefined): number {
  if (raw === undefined) return USERS_DEFAULT;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > USERS_MAX)
    throw invalidRequest(`Invalid value for 'limit': must be an integer from 1 to ${USERS_MAX}.`, "limit");
  return n;
}

/** `/admin/tenants`: each tenant's limits and today's usage (DESIGN §5). Mounted behind admin auth. */
export function mountTenants(app: Hono<AppEnv>): void {
  app.get("/admin/tenants", async (c) => {
    const settings = c.get("settings");
    const names = knownTenants(settings);
    const usage = await Promise.all(names.map((t) => usageOf(c.env, t)));
    return c.json({ tenants: names.map((t, i) => tenantJson(settings, t, usage[i] as UsageView)) });
  });
  app.get("/admin/tenants/:tenant", async (c) => {
    const tenant = tenantOf(c);
    const settings = c.get("settings");
    const [usage, ips] = await Promise.all([usageOf(c.env, tenant), ipsOf(c.env, settings, tenant)]);
    return c.json({ ...tenantJson(settings, tenant, usage), ips });
  });
  // The tenant's object tallies its users from their requests' reports (user-counts.ts: the
  // 10,000 who spent most today), so listing them costs one call.
  app.get("/admin/tenants/:tenant/users", async (c) => {
    const tenant = tenantOf(c);
    const limit = usersLimit(c.req.query("limit"));
    const users = await c.env.TENANTS.getByName(tenantBucket(tenant)).topUsers(limit);
    return c.json({ users });
  });
  app.all("/admin/tenants/:tenant/users", methodNotAllowed("GET"));
  app.post("/admin/tenants/:tenant/reset", async (c) => {
    const tenant = tenantOf(c);
    const usage = await c.env.TENANTS.getByName(tenantBucket(tenant)).resetSpend();
    log("info", "admin_tenant_reset", { tenant, requestId: c.get("requestId") });
    return c.json(tenantJson(c.get("settings"), tenant, usage));
  });
  app.all("/admin/tenants/:tenant/reset", methodNotAllowed("POST"));
}
