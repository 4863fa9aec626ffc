// The bench's baseline: a bare passthrough Worker under the same `wrangler dev` as the gateway.
// It forwards the request to the simulated upstream and returns its body as it streams, nothing
// else, so "gateway minus bare Worker" is what the gateway's own work costs.
interface BareEnv {
  UPSTREAM_URL: string;
  KV: KVNamespace;
}

export default {
  async fetch(request: Request, env: BareEnv): Promise<Response> {
    const url = new URL(request.url);
    // Baselines for the open-circuit rows: a no-op answer, and one KV read.
    if (url.pathname === "/__ping") return new Response("ok");
    if (url.pathname === "/__kv") {
      if (request.method === "PUT") {
        await env.KV.put("k", await request.text());
        return new Response("stored");
      }
      return new Response(await env.KV.get("k"));
    }
    const upstream = await fetch(env.UPSTREAM_URL + url.pathname.replace(/^\/v1/, "") + url.search, {
      method: request.method,
      headers: request.headers,
      body: request.body,
    });
    return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
  },
} satisfies ExportedHandler<BareEnv>;
