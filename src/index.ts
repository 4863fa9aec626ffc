import { DurableObject } from "cloudflare:workers";
export class BreakerObject extends DurableObject<Env> {}
export class FakeUpstreamObject extends DurableObject<Env> {}
export default { fetch: () => new Response("ok") } satisfies ExportedHandler<Env>;
