import { BreakerGate } from "./breaker/gate";
import { KvChainCache } from "./cache/chain-cache";
import { log } from "./core/log";
import type { IpAdmission, RequestScope, RequestServices, UpstreamKeys } from "./core/services";
import { simulatedUpstream } from "./fake-upstream/dev";
import type { Isolate } from "./isolate";
import { RequestMetrics } from "./metrics/request-metrics";
import { bucketsFor, ipBucketFor, leaseTiming, TenantGuard } from "./tenants/guard";
import { PROVIDER } from "./upstream/keys";

/** The upstream keys of this isolate, with the fleet-wide alert a refused key or account raises. */
function upstreamKeys(isolate: Isolate, scope: RequestScope): UpstreamKeys {
  const { settings, env, waitUntil } = scope;
  const ring = isolate.keys(settings.upstreamKeys);
  const alerts = () => env.KEY_ALERTS.getByName("keys");
  return {
    pick: (model, now) => ring.pick(model, now),
    reject: async (key, status, model) => {
      const rejection = await ring.setAside(key, status, model, Date.now());
      waitUntil(
        alerts()
          .notify(rejection, settings.alertWebhookUrl)
          .catch(() => log("warn", "key_alert_unavailable", { fingerprint: rejection.fingerprint })),
      );
    },
    refuseAccount: (model) => {
      ring.setAccountAside(Date.now() + settings.config.retry.maxDelayMs);
      const refusal = { provider: PROVIDER, baseUrl: settings.baseUrl, model, status: 402 as const };
      waitUntil(
        alerts()
          .notifyAccount(refusal, settings.alertWebhookUrl)
          .catch(() => log("warn", "key_alert_unavailable", { provider: PROVIDER })),
      );
    },
    accountAsideUntil: (now) => ring.accountAsideUntil(now),
  };
}

/**
 * The composition root: one request's services, built once from the isolate's state and the
 * request's scope. Only here do the breaker, cache, tenants and upstream meet the bindings.
 */
export function requestServices(isolate: Isolate, scope: RequestScope): RequestServices {
  const { env, settings, waitUntil, requested, tenant } = scope;
  const count = (series: string, amount?: number) => isolate.count(env, requested, settings, series, waitUntil, amount);
  const ttlMs = settings.config.snapshotTtlMs;
  const guard = new TenantGuard((bucket) => isolate.usage(env, bucket), leaseTiming(settings), waitUntil);
  const cacheScope = {
    ...scope,
    user: scope.identity?.user ?? null,
    count: (model: typeof requested, series: string) => isolate.count(env, model, settings, series, waitUntil),
  };
  return {
    gate: new BreakerGate((model) => isolate.channel(env, model, settings), ttlMs, waitUntil),
    cache: new KvChainCache(env.CACHE, settings, cacheScope, isolate.recentCacheWrites),
    keys: upstreamKeys(isolate, scope),
    usage: { admit: (reserveUsd) => guard.admit(bucketsFor(settings, tenant, scope.identity), reserveUsd) },
    metrics: new RequestMetrics(count, tenant),
    fetch: settings.simulatedUpstream ? simulatedUpstream(env, settings) : (request) => fetch(request),
  };
}

/** The per-IP limits of this isolate's callers, checked before a request's body is read. */
export function ipAdmission(isolate: Isolate): IpAdmission {
  return async ({ env, settings, waitUntil, tenant, ip }) => {
    const bucket = ipBucketFor(settings, tenant, ip);
    if (bucket === null) return;
    await new TenantGuard((name) => isolate.usage(env, name), leaseTiming(settings), waitUntil).admitIp(bucket);
  };
}
