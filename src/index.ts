import { createApp } from "./app";
import { BreakerGate } from "./breaker/gate";
import { mountSimulatedUpstream, simulatedUpstream } from "./fake-upstream/dev";
import { Isolate } from "./isolate";

export { BreakerObject } from "./breaker/object";
export { FakeUpstreamObject } from "./fake-upstream/object";

/**
 * A gateway with its own isolate state. The Worker exports one; tests build several to stand in
 * for isolates that share Durable Objects and KV but nothing in memory.
 */
export function createGateway(): ExportedHandler<Env> {
  const isolate = new Isolate();
  const app = createApp({
    gate: (env, settings, waitUntil) => new BreakerGate((model) => isolate.channel(env, model, settings), settings, waitUntil),
    keys: (keys) => isolate.keys(keys),
    fetch: (env, settings) => (settings.simulatedUpstream ? simulatedUpstream(env, settings) : (request) => fetch(request)),
    cache: () => null,
    mount: mountSimulatedUpstream,
  });
  return { fetch: (request, env, ctx) => app.fetch(request, env, ctx) };
}

export default createGateway();
