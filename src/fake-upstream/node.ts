// Serves the fake upstream from Node (tests, benchmarks). Each `/ns/<name>/` prefix gets its own
// fault switches and stats, so test files running in parallel cannot trip each other's models.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { MemoryFaultStore } from "./faults";
import { createFakeUpstream, type FetchHandler } from "./handler";
import { FakeStats } from "./stats";

export const DEFAULT_MODELS = ["gpt-4.1", "claude-sonnet-4.5", "gemini-2.5-flash", "deepseek-v3.2"];

export interface FakeUpstreamServer {
  port: number;
  /** Origin only, e.g. `http://127.0.0.1:1234`; append `/v1` or `/ns/<name>/v1`. */
  url: string;
  close(): Promise<void>;
}

// Hop-by-hop and framing headers belong to this connection, not to the Request we build.
const SKIPPED_HEADERS = new Set(["host", "connection", "keep-alive", "content-length", "transfer-encoding"]);

function splitNamespace(rawUrl: string): { ns: string; path: string } {
  const m = /^\/ns\/([^/?]+)(\/[^?]*)?(\?.*)?$/.exec(rawUrl);
  if (m === null) return { ns: "", path: rawUrl };
  return { ns: decodeURIComponent(m[1] ?? ""), path: (m[2] ?? "/") + (m[3] ?? "") };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

function toRequest(req: IncomingMessage, path: string, body: Buffer, signal: AbortSignal): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? "";
    if (!SKIPPED_HEADERS.has(name.toLowerCase())) headers.append(name, raw[i + 1] ?? "");
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(`http://fake-upstream${path}`, { method, headers, body: hasBody ? body : undefined, signal });
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

async function serve(handler: FetchHandler, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // Streams are judged by chunk timing; Nagle would merge the small SSE events.
  res.socket?.setNoDelay(true);
  const client = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) client.abort(new Error("client closed the connection"));
  });

  let response: Response;
  try {
    response = await handler(toRequest(req, path, await readBody(req), client.signal));
  } catch (err) {
    if (client.signal.aborted) return;
    res.writeHead(500, { "content-type": "text/plain" }).end(`fake upstream crashed: ${String(err)}`);
    return;
  }
  if (client.signal.aborted) {
    await response.body?.cancel();
    return;
  }

  for (const [name, value] of response.headers) res.setHeader(name, value);
  res.writeHead(response.status);
  // Headers go out now even when the body is late (slow_chunks on a plain answer).
  res.flushHeaders();
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  client.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}), { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await drained(res);
    }
  } catch {
    // The body failed (a simulated cut): drop the connection so the client sees a cut too, but
    // only after what was written has left, or the events before the cut would vanish with it.
    await new Promise((resolve) => setImmediate(resolve));
    res.socket?.destroySoon();
    return;
  }
  if (!client.signal.aborted) res.end();
}

export async function startFakeUpstream(
  opts: { port?: number; host?: string; models?: string[] } = {},
): Promise<FakeUpstreamServer> {
  const models = opts.models ?? DEFAULT_MODELS;
  const host = opts.host ?? "127.0.0.1";
  const namespaces = new Map<string, FetchHandler>();
  const handlerFor = (ns: string): FetchHandler => {
    let handler = namespaces.get(ns);
    if (handler === undefined) {
      handler = createFakeUpstream({ models, faults: new MemoryFaultStore(), stats: new FakeStats() });
      namespaces.set(ns, handler);
    }
    return handler;
  };

  const server = createServer((req, res) => {
    const { ns, path } = splitNamespace(req.url ?? "/");
    void serve(handlerFor(ns), path, req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("fake upstream: no TCP address");
  const origin = host.includes(":") ? `[${host}]` : host;

  return {
    port: addr.port,
    url: `http://${origin}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Hung requests and keep-alive sockets would otherwise hold close() open forever.
        server.closeAllConnections();
      }),
  };
}
