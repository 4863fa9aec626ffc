// A precise HTTP client (performance.now(), keep-alive), for timings autocannon does not give, and
// small fetch helpers for the gateway's admin API and the fake upstream's controls.
import { Agent, request as httpRequest } from "node:http";

export interface Timed {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** ms from sending to the first body byte (to the headers for an empty body). */
  ttfb: number;
  /** ms from sending to the end of the body. */
  ttlb: number;
  bytes: number;
  /** The body, unless `discardBody` (then only its last 64 bytes). */
  body: string;
  /** The body ended in a transport error (reset, cut) rather than cleanly. */
  transportError: string | null;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  agent: Agent;
  discardBody?: boolean;
  /** Client-side bound; the request is destroyed after it. */
  timeoutMs?: number;
}

export function send(url: string, o: SendOptions): Promise<Timed> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let settled = false;
    const done = (t: Timed) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(t);
    };
    const failed = (err: string, status = 0, partial?: Partial<Timed>) =>
      done({ status, headers: {}, ttfb: NaN, ttlb: performance.now() - t0, bytes: 0, body: "", ...partial, transportError: err });
    const req = httpRequest(url, { method: o.method ?? "GET", headers: o.headers, agent: o.agent }, (res) => {
      const headersAt = performance.now();
      let first = 0;
      let bytes = 0;
      const chunks: Buffer[] = [];
      let tail = "";
      res.on("data", (chunk: Buffer) => {
        if (first === 0) first = performance.now();
        bytes += chunk.length;
        if (o.discardBody) tail = (tail + chunk.toString("latin1")).slice(-64);
        else chunks.push(chunk);
      });
      const result = (transportError: string | null): Timed => ({
        status: res.statusCode ?? 0,
        headers: res.headers,
        ttfb: (first || headersAt) - t0,
        ttlb: performance.now() - t0,
        bytes,
        body: o.discardBody ? tail : Buffer.concat(chunks).toString("utf8"),
        transportError,
      });
      res.on("end", () => done(result(null)));
      res.on("error", (err) => done(result(err.message || "response error")));
      res.on("aborted", () => done(result("aborted")));
    });
    const timer = setTimeout(() => {
      req.destroy(new Error("client timeout"));
      failed(`client timeout after ${o.timeoutMs} ms`);
    }, o.timeoutMs ?? 120_000);
    req.on("error", (err) => failed(err.message || "request error"));
    req.end(o.body);
  });
}

export const keepAlive = (sockets: number) => new Agent({ keepAlive: true, maxSockets: sockets, keepAliveMsecs: 10_000 });

export async function getJson<T>(url: string, token?: string): Promise<T> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function call(method: string, url: string, body?: unknown, token?: string): Promise<unknown> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}
