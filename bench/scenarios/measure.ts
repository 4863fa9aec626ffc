// The two ways the bench measures: load with autocannon (throughput, latency under concurrency)
// and one request after another with the precise client (time to first and last byte).

import type { EventEmitter } from "node:events";
import autocannon from "autocannon";
import { keepAlive, send } from "../lib/http";
import { mean, percentile } from "../lib/stats";
import { expectOk, JSON_HEADERS } from "./context";

export interface LoadResult {
  count: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  mean: number;
  non2xx: number;
  errors: number;
}

type Tracker = Promise<autocannon.Result> & EventEmitter;

/**
 * One autocannon run. Its summary histogram has whole-millisecond buckets, so latencies come
 * from its per-response `response` event instead (process.hrtime, sub-millisecond).
 */
export async function load(o: {
  url: string;
  connections: number;
  amount?: number;
  duration?: number;
  body: (i: number) => string;
}): Promise<LoadResult> {
  const durations: number[] = [];
  let firstStart = Infinity;
  let lastEnd = 0;
  let i = 0;
  const instance = autocannon({
    url: o.url,
    connections: o.connections,
    ...(o.amount ? { amount: o.amount } : { duration: o.duration ?? 5 }),
    timeout: 30,
    requests: [{ method: "POST", headers: JSON_HEADERS, setupRequest: (req) => ({ ...req, body: o.body(i++) }) }],
  }) as unknown as Tracker;
  instance.on("response", (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    const now = performance.now();
    durations.push(responseTime);
    firstStart = Math.min(firstStart, now - responseTime);
    lastEnd = now;
  });
  const r = await instance;
  // autocannon's own start/finish are whole seconds apart (it checks on a 1 s tick).
  const seconds = (lastEnd - firstStart) / 1000;
  return {
    count: durations.length,
    seconds,
    rps: durations.length / seconds,
    p50: percentile(durations, 50),
    p99: percentile(durations, 99),
    mean: durations.length ? mean(durations) : NaN,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

// ---------------------------------------------------------------------------------------------
// Sequential requests with the precise client

export interface SeqResult {
  p50: number;
  p99: number;
  ttfbP50: number;
  ttfbP99: number;
}

export async function sequential(o: {
  url: string;
  n: number;
  method?: string;
  body?: (i: number) => string;
  headers?: Record<string, string>;
  check: (status: number, headers: Record<string, unknown>, body: string) => string | null;
  what: string;
}): Promise<SeqResult> {
  const agent = keepAlive(1);
  const ttlb: number[] = [];
  const ttfb: number[] = [];
  try {
    for (let i = 0; i < o.n; i++) {
      const r = await send(o.url, { method: o.method ?? "GET", headers: o.headers, body: o.body?.(i), agent, timeoutMs: 30_000 });
      const wrong = r.transportError ?? o.check(r.status, r.headers, r.body);
      expectOk(o.what, wrong === null, `${wrong} (status ${r.status}) ${r.body.slice(0, 200)}`);
      ttlb.push(r.ttlb);
      ttfb.push(r.ttfb);
    }
  } finally {
    agent.destroy();
  }
  return { p50: percentile(ttlb, 50), p99: percentile(ttlb, 99), ttfbP50: percentile(ttfb, 50), ttfbP99: percentile(ttfb, 99) };
}
