// 6. Open circuit and cache fallback, against /healthz in the same run.
import { call, keepAlive, send } from "../lib/http";
import { say } from "../lib/output";
import { sleep } from "../lib/sleep";
import { median } from "../lib/stats";
import { type Bench, chatBody, expectOk, JSON_HEADERS } from "./context";
import { ms } from "./format";
import { type SeqResult, sequential } from "./measure";

export async function openCircuitScenario({ reps, bare, gw, admin, rows, raw }: Bench): Promise<void> {
  say("5/7 open circuit and cache fallback …");
  const healthz = `${gw.url}/healthz`;
  const isHealth = (s: number, _h: Record<string, unknown>, b: string) => (s === 200 && b.includes('"ok"') ? null : "not ok");
  const openBody = chatBody("gpt-4.1-open", "open circuit please");
  const cachedBody = chatBody("gpt-4.1-cached", "a cached answer please");
  const isOpen = (s: number, _h: Record<string, unknown>, b: string) =>
    s === 503 && b.includes('"circuit_open"') ? null : "not a 503 circuit_open";
  const fromCache = (s: number, h: Record<string, unknown>, b: string) =>
    s === 200 && h["x-gateway-source"] === "cache" && b.includes('"chat.completion"')
      ? null
      : `not served from cache (source ${String(h["x-gateway-source"])})`;
  // Prime the cache with one success and wait for its background write to be counted.
  const writesBefore = await admin.metric('gateway_cache_writes_total{model="gpt-4.1-cached",result="ok"}');
  const primed = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: JSON_HEADERS, body: cachedBody });
  expectOk("cache priming", primed.status === 200, `status ${primed.status}`);
  await primed.text();
  for (let i = 0; i < 50; i++) {
    if ((await admin.metric('gateway_cache_writes_total{model="gpt-4.1-cached",result="ok"}')) > writesBefore) break;
    await sleep(100);
  }
  await admin.open("gpt-4.1-open");
  await admin.open("gpt-4.1-cached");
  // The isolate learns of the forced open within 2 × snapshotTtlMs.
  const agent = keepAlive(1);
  for (const [body, check] of [
    [openBody, isOpen],
    [cachedBody, fromCache],
  ] as const) {
    for (let i = 0; i < 60; i++) {
      const r = await send(`${gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: { ...JSON_HEADERS, "x-gateway-fallback": body === openBody ? "none" : "all" },
        body,
        agent,
      });
      if (check(r.status, r.headers, r.body) === null) break;
      await sleep(100);
    }
  }
  agent.destroy();
  // Baselines in the bare Worker: a no-op answer and one KV read of an entry of the same size.
  await call("PUT", `${bare.url}/__kv`, { answer: "x".repeat(600) });
  const open = {
    healthz: [] as SeqResult[],
    open: [] as SeqResult[],
    cache: [] as SeqResult[],
    ping: [] as SeqResult[],
    kv: [] as SeqResult[],
  };
  for (let rep = 0; rep < reps; rep++) {
    open.healthz.push(await sequential({ url: healthz, n: 300, check: isHealth, what: "healthz" }));
    open.open.push(
      await sequential({
        url: `${gw.url}/v1/chat/completions`,
        n: 300,
        method: "POST",
        headers: { ...JSON_HEADERS, "x-gateway-fallback": "none" },
        body: () => openBody,
        check: isOpen,
        what: "circuit_open",
      }),
    );
    open.cache.push(
      await sequential({
        url: `${gw.url}/v1/chat/completions`,
        n: 300,
        method: "POST",
        headers: JSON_HEADERS,
        body: () => cachedBody,
        check: fromCache,
        what: "cache fallback",
      }),
    );
    open.ping.push(
      await sequential({ url: `${bare.url}/__ping`, n: 300, check: (s) => (s === 200 ? null : "not 200"), what: "bare ping" }),
    );
    open.kv.push(
      await sequential({ url: `${bare.url}/__kv`, n: 300, check: (s) => (s === 200 ? null : "not 200"), what: "bare KV read" }),
    );
  }
  await admin.reset("gpt-4.1-open");
  await admin.reset("gpt-4.1-cached");
  raw.openCircuit = open;
  const o50 = (k: keyof typeof open) => median(open[k].map((r) => r.p50));
  const kvRead = Math.max(0, o50("kv") - o50("ping"));
  const openRatio = o50("open") / o50("healthz");
  const cacheLimit = 2 * o50("healthz") + kvRead;
  rows.push(
    {
      scenario: "open circuit (1 client, 300 req)",
      metric: "GET /healthz p50",
      direct: "—",
      bare: `${ms(o50("ping"))} (no-op)`,
      gateway: ms(o50("healthz")),
      vsBare: "",
      target: "",
      met: "—",
    },
    {
      scenario: "",
      metric: "503 circuit_open p50",
      direct: "—",
      bare: "—",
      gateway: ms(o50("open")),
      vsBare: `${openRatio.toFixed(2)}× healthz`,
      target: "≤ 1.5× healthz",
      met: openRatio <= 1.5 ? "yes" : "no",
    },
    {
      scenario: "",
      metric: "cache fallback p50",
      direct: "—",
      bare: `${ms(o50("kv"))} (1 KV read)`,
      gateway: ms(o50("cache")),
      vsBare: `${(o50("cache") / o50("healthz")).toFixed(2)}× healthz`,
      target: `≤ 2× healthz + KV read = ${ms(cacheLimit)}`,
      met: o50("cache") <= cacheLimit ? "yes" : "no",
    },
  );
}
