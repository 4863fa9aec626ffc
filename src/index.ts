import { mountAdmin } from "./admin/routes";
import { createApp } from "./app";
import { BreakerGate } from "./breaker/gate";
import { KvChainCache } from "./cache/chain-cache";
import { mountSimulatedUpstream, simulatedUpstream } from "./fake-upstream/dev";
import { Isolate } from "./isolate";
import { RequestMetrics } from "./metrics/request-metrics";
import { TenantGuard } from "./tenants/guard";

export { BreakerObject } from "./breaker/object";
export { FakeUpstreamObject } from "./fake-upstream/object";
export { TenantObject } from "./tenants/object";
export { KeyAlertObject } from "./upstream/key-alerts";

/**
 * A gateway with its own isolate state. The Worker exports one; tests build several to stand in
 * for isolates that share Durable Objects and KV but nothing in memory.
 */
export function createGateway(): ExportedHandler<Env> {
  const isolate = new Isolate();
  const app = createApp({
    gate: (env, settings, waitUntil) => new BreakerGate((model) => isolate.channel(env, model, settings), settings, waitUntil),
    keys: (keys) => isolate.keys(keys),
    tenants: (env, settings, waitUntil) =>
      new TenantGuard((bucket) => isolate.usage(env, bucket), settings.config.snapshotTtlMs, waitUntil),
    fetch: (env, settings) => (settings.simulatedUpstream ? simulatedUpstream(env, settings) : (request) => fetch(request)),
    cache: (env, settings, scope) =>
      new KvChainCache(
        env.CACHE,
        settings,
        {
          ...scope,
          count: (model, series) => isolate.count(env, model, settings, series, scope.waitUntil),
        },
        isolate.recentCacheWrites,
      ),
    metrics: (env, settings, requested, tenant, waitUntil) =>
      new RequestMetrics((name, amount) => isolate.count(env, requested, settings, name, waitUntil, amount), tenant),
    mount: (app) => {
      mountAdmin(app);
      mountSimulatedUpstream(app);
    },
  });
  return { fetch: (request, env, ctx) => app.fetch(request, env, ctx) };
}

export default createGateway();
