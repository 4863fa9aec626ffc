import { mountAdmin } from "./admin/routes";
import { createApp } from "./app";
import { mountSimulatedUpstream } from "./fake-upstream/dev";
import { mountDevIdentity } from "./identity/dev-routes";
import { Isolate } from "./isolate";
import { ipAdmission, requestServices } from "./services";

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
    services: (scope) => requestServices(isolate, scope),
    admitIp: ipAdmission(isolate),
    jwks: isolate.jwks,
    mount: (app) => {
      mountAdmin(app);
      mountSimulatedUpstream(app);
      mountDevIdentity(app);
    },
  });
  return { fetch: (request, env, ctx) => app.fetch(request, env, ctx) };
}

export default createGateway();
