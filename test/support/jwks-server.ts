// A real JWKS endpoint for the JWT tests, as an auth provider serves one. Each `/ns/<name>/`
// prefix has its own keys, switches and fetch count, so test files cannot disturb each other:
//   GET  /ns/<n>/jwks.json        the keys (503 while down; after `delayMs` when slow)
//   PUT  /ns/<n>/keys             {"keys": [JWK…]} replaces them
//   POST /ns/<n>/mode             {"down": bool, "delayMs": n}
//   GET  /ns/<n>/stats            {"fetches": n}: every GET of jwks.json, answered or not
import { createServer, type IncomingMessage } from "node:http";

interface Namespace {
  keys: unknown[];
  down: boolean;
  delayMs: number;
  fetches: number;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString() || "{}");
}

export async function startJwksServer(): Promise<{ port: number; close(): Promise<void> }> {
  const spaces = new Map<string, Namespace>();
  const space = (name: string) => {
    let ns = spaces.get(name);
    if (!ns) spaces.set(name, (ns = { keys: [], down: false, delayMs: 0, fetches: 0 }));
    return ns;
  };
  const server = createServer(async (req, res) => {
    const m = /^\/ns\/([^/]+)\/(jwks\.json|keys|mode|stats)$/.exec(req.url ?? "");
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (!m) return json(404, { error: "unknown" });
    const ns = space(m[1] ?? "");
    const route = `${req.method} ${m[2]}`;
    if (route === "GET jwks.json") {
      ns.fetches++;
      if (ns.delayMs > 0) await new Promise((r) => setTimeout(r, ns.delayMs));
      return ns.down ? json(503, { error: "down" }) : json(200, { keys: ns.keys });
    }
    if (route === "PUT keys") {
      ns.keys = ((await readJson(req)).keys as unknown[]) ?? [];
      return json(200, { ok: true });
    }
    if (route === "POST mode") {
      const body = await readJson(req);
      ns.down = body.down === true;
      ns.delayMs = typeof body.delayMs === "number" ? body.delayMs : 0;
      return json(200, { ok: true });
    }
    if (route === "GET stats") return json(200, { fetches: ns.fetches });
    return json(405, { error: "method" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
