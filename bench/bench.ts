// `npm run bench`: the gateway's overhead against a bare passthrough Worker and the upstream
// itself, on loopback. Prints one table and writes bench/results.json. Timings are reported
// against the targets of issue 6, never asserted; the run fails only when the bench itself
// cannot run or answers are wrong.
import autocannon from "autocannon";
import type { EventEmitter } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import {
  call, cpuMs, getJson, keepAlive, markdownTable, mean, median, memoryOf, percentile, resetPeak, ROOT, send, sleep, startFake,
  startWrangler, table, tempDir, GATEWAY_FILES, type FakeProcess, type WranglerProcess,
} from "./lib";

const TOKEN = "bench-admin-token";
const KEY = "sk-bench-dummy";
const REPS = 3;
const MB = 1024 * 1024;
const LARGE_BYTES = 50 * MB;

/** The default models (DESIGN §7) plus the bench's own (named with a prefix the fake knows). */
const GATEWAY_CONFIG = {
  models: {
    "gpt-4.1": { fallbacks: ["deepseek-v3.2"], priceUsdPerMTok: 8.0 },
    "claude-sonnet-4.5": { fallbacks: ["gpt-4.1", "deepseek-v3.2"], priceUsdPerMTok: 15.0, breaker: { failureThreshold: 3 } },
    "gemini-2.5-flash": { fallbacks: ["deepseek-v3.2"], priceUsdPerMTok: 2.5 },
    "deepseek-v3.2": { fallbacks: [], priceUsdPerMTok: 0.42 },
    "gpt-4.1-nocache": { fallbacks: [], priceUsdPerMTok: 8.0, cache: { enabled: false } },
    "gpt-4.1-large": { fallbacks: [], priceUsdPerMTok: 8.0 },
    "gpt-4.1-large-control": { fallbacks: [], priceUsdPerMTok: 8.0 },
    "gpt-4.1-open": { fallbacks: [], priceUsdPerMTok: 8.0 },
    "gpt-4.1-cached": { fallbacks: [], priceUsdPerMTok: 8.0 },
  },
  // The defaults (600 a minute per tenant, 120 per anonymous IP) would stop the bench in a
  // second; limits stay on (same code path) but out of reach.
  tenants: { default: { requestsPerMinute: 1_000_000_000 }, ip: { requestsPerMinute: 1_000_000_000 } },
};

type ColumnName = "upstream direct" | "bare Worker" | "gateway";
interface Column {
  name: ColumnName;
  /** Base URL of the OpenAI API (…/v1). */
  api: string;
}

const JSON_HEADERS = { "content-type": "application/json", authorization: `Bearer ${KEY}` };
const chatBody = (model: string, prompt: string, stream = false) =>
  JSON.stringify({ model, stream, messages: [{ role: "user", content: prompt }] });

const say = (line = "") => process.stdout.write(`${line}\n`);
const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(3)} ms` : "n/a");
const ms2 = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : "n/a");
const signed = (f: (v: number) => string) => (v: number) => (v >= 0 ? `+${f(v)}` : `−${f(-v)}`);
const sms = signed(ms);
const sms2 = signed(ms2);
const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)} %` : "n/a");
const rps = (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} req/s` : "n/a");
const mib = (v: number) => `${(v / MB).toFixed(1)} MiB`;

/** Problems with answers (wrong status, bad body): these, not timings, fail the bench. */
const problems: string[] = [];
function expectOk(what: string, cond: boolean, detail: string): void {
  if (!cond && problems.length < 50) problems.push(`${what}: ${detail}`);
}

// ---------------------------------------------------------------------------------------------
// Load with autocannon

interface LoadResult {
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
async function load(o: {
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

interface SeqResult {
  p50: number;
  p99: number;
  ttfbP50: number;
  ttfbP99: number;
}

async function sequential(o: {
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

const isCleanStream = (status: number, _h: Record<string, unknown>, body: string): string | null =>
  status !== 200 ? "not 200" : body.trimEnd().endsWith("data: [DONE]") ? null : "stream did not end with [DONE]";

// ---------------------------------------------------------------------------------------------
// Admin and metrics

interface CircuitJson {
  model: string;
  state: string;
  calls: number;
}

const admin = (gw: WranglerProcess) => ({
  circuit: (model: string) => getJson<CircuitJson>(`${gw.url}/admin/circuits/${encodeURIComponent(model)}`, TOKEN),
  open: (model: string) => call("POST", `${gw.url}/admin/circuits/${encodeURIComponent(model)}/open`, { reason: "bench" }, TOKEN),
  reset: (model: string) => call("POST", `${gw.url}/admin/circuits/${encodeURIComponent(model)}/reset`, { reason: "bench" }, TOKEN),
  async metric(series: string): Promise<number> {
    const res = await fetch(`${gw.url}/admin/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await res.text();
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  },
});

// ---------------------------------------------------------------------------------------------

interface Row {
  scenario: string;
  metric: string;
  direct: string;
  bare: string;
  gateway: string;
  vsBare: string;
  target: string;
  met: "yes" | "no" | "—";
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const quick = process.argv.includes("--quick");
  const reps = quick ? 1 : REPS;
  say("Edge AI gateway bench (issue 6). Loopback only; targets are reported, not asserted.");
  say("The gateway and a bare passthrough Worker (bench/bare-worker.ts) both run under `wrangler dev`,");
  say("which is what `npm run dev` runs, so the two columns share its proxy hop and local Durable");
  say("Object and KV simulation. (Miniflare or workerd could be driven directly instead, which skips");
  say("wrangler's proxy; one row below measures the Workers' own workerd sockets for comparison.)");
  say(`The simulated upstream (src/fake-upstream) runs as its own Node process. Machine: ${cpus().length} cores, Node ${process.version}.`);
  say(`Headline numbers are the median of ${reps} repetition(s).`);
  say();

  const tmp = tempDir("gateway-bench-");
  let fake: FakeProcess | null = null;
  let bare: WranglerProcess | null = null;
  let gw: WranglerProcess | null = null;
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  try {
    fake = await startFake();
    const logLevel = "warn" as const;
    [bare, gw] = await Promise.all([
      startWrangler({ name: "bare", config: "bench/wrangler.bare.toml", files: ["bench/wrangler.bare.toml", "bench/bare-worker.ts"], dir: tmp.dir, logLevel, vars: { UPSTREAM_URL: `${fake.url}/v1` } }),
      startWrangler({
        name: "gateway",
        files: GATEWAY_FILES,
        dir: tmp.dir,
        logLevel,
        vars: {
          HOLYSHEEP_BASE_URL: `${fake.url}/v1`,
          HOLYSHEEP_API_KEY: KEY,
          ALLOW_ANONYMOUS: "true",
          ADMIN_TOKEN: TOKEN,
          GATEWAY_CONFIG: JSON.stringify(GATEWAY_CONFIG),
          // Whatever a developer's .dev.vars says, not these.
          DEV_MODE: "",
          CLIENT_KEYS: "",
          ALERT_WEBHOOK_URL: "",
        },
      }),
    ]);
    say(`started: upstream ${fake.url}, bare Worker ${bare.url}, gateway ${gw.url} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    const columns: Column[] = [
      { name: "upstream direct", api: `${fake.url}/v1` },
      { name: "bare Worker", api: `${bare.url}/v1` },
      { name: "gateway", api: `${gw.url}/v1` },
    ];
    const A = admin(gw);
    const byCol = <T>(f: (c: Column) => T) => Object.fromEntries(columns.map((c) => [c.name, f(c)])) as Record<ColumnName, T>;
    const med = (xs: number[]) => median(xs);

    // Warm every path (isolates, connection pools, JIT) before measuring.
    for (const c of columns) {
      await load({ url: `${c.api}/chat/completions`, connections: 1, amount: 200, body: (i) => chatBody("gpt-4.1", `warm ${i}`) });
      await load({ url: `${c.api}/chat/completions`, connections: 10, duration: 1, body: (i) => chatBody("gpt-4.1", `warm10 ${i}`) });
    }

    // 1. One client, sequential, non-streaming.
    say("1/7 one client, sequential, non-streaming …");
    const seq = byCol((): LoadResult[] => []);
    // Also through the gateway on a model with caching off: how much of the gap is KV writes.
    const seqNoCache: LoadResult[] = [];
    for (let rep = 0; rep < reps; rep++) {
      for (const c of columns) {
        const r = await load({ url: `${c.api}/chat/completions`, connections: 1, amount: 500, body: (i) => chatBody("gpt-4.1", `seq ${rep} ${i}`) });
        expectOk(`sequential ${c.name}`, r.non2xx === 0 && r.errors === 0, `${r.non2xx} non-2xx, ${r.errors} errors`);
        seq[c.name].push(r);
      }
      const r = await load({ url: `${gw.url}/v1/chat/completions`, connections: 1, amount: 500, body: (i) => chatBody("gpt-4.1-nocache", `seqnc ${rep} ${i}`) });
      expectOk("sequential gateway, cache off", r.non2xx === 0 && r.errors === 0, `${r.non2xx} non-2xx, ${r.errors} errors`);
      seqNoCache.push(r);
    }
    raw["sequential"] = { ...seq, "gateway, cache off": seqNoCache };
    const seqMed = byCol((c) => ({
      p50: med(seq[c.name].map((r) => r.p50)),
      p99: med(seq[c.name].map((r) => r.p99)),
      rps: med(seq[c.name].map((r) => r.rps)),
    }));
    const addP50 = seqMed.gateway.p50 - seqMed["bare Worker"].p50;
    const addP99 = seqMed.gateway.p99 - seqMed["bare Worker"].p99;
    rows.push(
      { scenario: "1 client sequential (500 req)", metric: "p50", direct: ms(seqMed["upstream direct"].p50), bare: ms(seqMed["bare Worker"].p50), gateway: ms(seqMed.gateway.p50), vsBare: sms(addP50), target: "≤ +0.3 ms", met: addP50 <= 0.3 ? "yes" : "no" },
      { scenario: "", metric: "p99", direct: ms(seqMed["upstream direct"].p99), bare: ms(seqMed["bare Worker"].p99), gateway: ms(seqMed.gateway.p99), vsBare: sms(addP99), target: "≤ +2 ms", met: addP99 <= 2 ? "yes" : "no" },
      { scenario: "", metric: "throughput", direct: rps(seqMed["upstream direct"].rps), bare: rps(seqMed["bare Worker"].rps), gateway: rps(seqMed.gateway.rps), vsBare: pct(seqMed.gateway.rps / seqMed["bare Worker"].rps), target: "", met: "—" },
    );
    {
      const n50 = med(seqNoCache.map((r) => r.p50));
      const n99 = med(seqNoCache.map((r) => r.p99));
      rows.push(
        { scenario: "  same, model with cache off", metric: "p50", direct: ms(seqMed["upstream direct"].p50), bare: ms(seqMed["bare Worker"].p50), gateway: ms(n50), vsBare: sms(n50 - seqMed["bare Worker"].p50), target: "(reference)", met: "—" },
        { scenario: "", metric: "p99", direct: ms(seqMed["upstream direct"].p99), bare: ms(seqMed["bare Worker"].p99), gateway: ms(n99), vsBare: sms(n99 - seqMed["bare Worker"].p99), target: "", met: "—" },
      );
    }

    // 1b. The same through each Worker's own workerd socket (no wrangler proxy hop).
    const directBare = await bare.directUrl("/__ping", "ok");
    const directGw = await gw.directUrl("/healthz", "status");
    if (directBare && directGw) {
      const d = { bare: [] as LoadResult[], gateway: [] as LoadResult[] };
      for (const base of [directBare, directGw]) {
        await load({ url: `${base}/v1/chat/completions`, connections: 1, amount: 100, body: (i) => chatBody("gpt-4.1", `warmd ${i}`) });
      }
      for (let rep = 0; rep < reps; rep++) {
        for (const [k, base] of [["bare", directBare], ["gateway", directGw]] as const) {
          const r = await load({ url: `${base}/v1/chat/completions`, connections: 1, amount: 500, body: (i) => chatBody("gpt-4.1", `seqd ${rep} ${i}`) });
          expectOk(`sequential direct ${k}`, r.non2xx === 0 && r.errors === 0, `${r.non2xx} non-2xx, ${r.errors} errors`);
          d[k].push(r);
        }
      }
      raw["sequentialWorkerdDirect"] = d;
      const b50 = med(d.bare.map((r) => r.p50));
      const g50 = med(d.gateway.map((r) => r.p50));
      const b99 = med(d.bare.map((r) => r.p99));
      const g99 = med(d.gateway.map((r) => r.p99));
      rows.push(
        { scenario: "  same, workerd socket (no proxy)", metric: "p50", direct: ms(seqMed["upstream direct"].p50), bare: ms(b50), gateway: ms(g50), vsBare: sms(g50 - b50), target: "≤ +0.3 ms", met: g50 - b50 <= 0.3 ? "yes" : "no" },
        { scenario: "", metric: "p99", direct: ms(seqMed["upstream direct"].p99), bare: ms(b99), gateway: ms(g99), vsBare: sms(g99 - b99), target: "≤ +2 ms", met: g99 - b99 <= 2 ? "yes" : "no" },
      );
    } else {
      say("  (could not find the Workers' own workerd sockets; skipping the no-proxy row)");
    }

    // 2. Ten connections, 5 s, non-streaming; 5. Durable Object calls per 1,000 requests (gateway).
    say("2/7 10 connections, 5 s each, non-streaming (and Durable Object calls) …");
    const conc = byCol((): LoadResult[] => []);
    const doCalls: { requests: number; calls: number; per1000: number }[] = [];
    // CPU per request of the process answering (the Worker's workerd; the fake for "direct") and of wrangler's proxy.
    const cpu = byCol((): { worker: number; proxy: number }[] => []);
    const servingPid = (c: Column) => (c.name === "gateway" ? gw!.workerdPid() : c.name === "bare Worker" ? bare!.workerdPid() : fake!.pid) ?? 0;
    const proxyPid = (c: Column) => (c.name === "gateway" ? gw!.proxyPid() : c.name === "bare Worker" ? bare!.proxyPid() : null) ?? 0;
    for (let rep = 0; rep < reps; rep++) {
      for (const c of columns) {
        const before = c.name === "gateway" ? (await A.circuit("gpt-4.1")).calls : 0;
        const cpu0 = { worker: cpuMs(servingPid(c)), proxy: cpuMs(proxyPid(c)) };
        const r = await load({ url: `${c.api}/chat/completions`, connections: 10, duration: 5, body: (i) => chatBody("gpt-4.1", `conc ${rep} ${i}`) });
        cpu[c.name].push({ worker: (cpuMs(servingPid(c)) - cpu0.worker) / r.count, proxy: (cpuMs(proxyPid(c)) - cpu0.proxy) / r.count });
        expectOk(`10 connections ${c.name}`, r.non2xx === 0 && r.errors === 0, `${r.non2xx} non-2xx, ${r.errors} errors`);
        conc[c.name].push(r);
        if (c.name === "gateway") {
          // The last outcomes reach the object within snapshotTtlMs (1 s): count that flush too.
          await sleep(1500);
          const after = (await A.circuit("gpt-4.1")).calls;
          doCalls.push({ requests: r.count, calls: after - before, per1000: ((after - before) / r.count) * 1000 });
        }
      }
    }
    raw["tenConnections"] = conc;
    raw["durableObjectCalls"] = doCalls;
    const concMed = byCol((c) => ({
      rps: med(conc[c.name].map((r) => r.rps)),
      p50: med(conc[c.name].map((r) => r.p50)),
      p99: med(conc[c.name].map((r) => r.p99)),
    }));
    const tputRatio = concMed.gateway.rps / concMed["bare Worker"].rps;
    rows.push(
      { scenario: "10 connections, 5 s", metric: "throughput", direct: rps(concMed["upstream direct"].rps), bare: rps(concMed["bare Worker"].rps), gateway: rps(concMed.gateway.rps), vsBare: pct(tputRatio), target: "≥ 80 %", met: tputRatio >= 0.8 ? "yes" : "no" },
      { scenario: "", metric: "p50", direct: ms2(concMed["upstream direct"].p50), bare: ms2(concMed["bare Worker"].p50), gateway: ms2(concMed.gateway.p50), vsBare: sms2(concMed.gateway.p50 - concMed["bare Worker"].p50), target: "", met: "—" },
      { scenario: "", metric: "p99", direct: ms2(concMed["upstream direct"].p99), bare: ms2(concMed["bare Worker"].p99), gateway: ms2(concMed.gateway.p99), vsBare: sms2(concMed.gateway.p99 - concMed["bare Worker"].p99), target: "", met: "—" },
    );
    raw["cpuPerRequest"] = cpu;
    const cpuW = byCol((c) => med(cpu[c.name].map((x) => x.worker)));
    const cpuP = byCol((c) => med(cpu[c.name].map((x) => x.proxy)));
    rows.push(
      { scenario: "", metric: "CPU / req, answering process", direct: `${ms(cpuW["upstream direct"])} (Node)`, bare: ms(cpuW["bare Worker"]), gateway: ms(cpuW.gateway), vsBare: sms(cpuW.gateway - cpuW["bare Worker"]), target: "", met: "—" },
      { scenario: "", metric: "CPU / req, wrangler's proxy", direct: "—", bare: ms(cpuP["bare Worker"]), gateway: ms(cpuP.gateway), vsBare: "", target: "", met: "—" },
    );
    const per1000 = med(doCalls.map((d) => d.per1000));
    rows.push({
      scenario: "steady closed state (the 10-conn runs)",
      metric: "DO calls / 1000 req",
      direct: "—",
      bare: "—",
      gateway: `${per1000.toFixed(2)} (${doCalls.map((d) => `${d.calls}/${d.requests}`).join(", ")})`,
      vsBare: "",
      target: "≤ 10",
      met: per1000 <= 10 ? "yes" : "no",
    });

    // 3. Streaming: time to first and last byte, precise client.
    say("3/7 streaming, one client, time to first / last byte …");
    const streaming = byCol((): SeqResult[] => []);
    for (const c of columns) {
      await sequential({ url: `${c.api}/chat/completions`, n: 30, method: "POST", headers: JSON_HEADERS, body: (i) => chatBody("gpt-4.1", `warms ${i}`, true), check: isCleanStream, what: `stream warm-up ${c.name}` });
    }
    for (let rep = 0; rep < reps; rep++) {
      for (const c of columns) {
        streaming[c.name].push(
          await sequential({ url: `${c.api}/chat/completions`, n: 200, method: "POST", headers: JSON_HEADERS, body: (i) => chatBody("gpt-4.1", `stream ${rep} ${i}`, true), check: isCleanStream, what: `streaming ${c.name}` }),
        );
      }
    }
    raw["streaming"] = streaming;
    const stMed = byCol((c) => ({
      ttfb: med(streaming[c.name].map((r) => r.ttfbP50)),
      ttfb99: med(streaming[c.name].map((r) => r.ttfbP99)),
      ttlb: med(streaming[c.name].map((r) => r.p50)),
    }));
    const ttfbAdd = stMed.gateway.ttfb - stMed["bare Worker"].ttfb;
    rows.push(
      { scenario: "stream (9 events), 1 client, 200 req", metric: "first byte p50", direct: ms(stMed["upstream direct"].ttfb), bare: ms(stMed["bare Worker"].ttfb), gateway: ms(stMed.gateway.ttfb), vsBare: sms(ttfbAdd), target: "≤ +1 ms", met: ttfbAdd <= 1 ? "yes" : "no" },
      { scenario: "", metric: "first byte p99", direct: ms(stMed["upstream direct"].ttfb99), bare: ms(stMed["bare Worker"].ttfb99), gateway: ms(stMed.gateway.ttfb99), vsBare: sms(stMed.gateway.ttfb99 - stMed["bare Worker"].ttfb99), target: "", met: "—" },
      { scenario: "", metric: "last byte p50", direct: ms(stMed["upstream direct"].ttlb), bare: ms(stMed["bare Worker"].ttlb), gateway: ms(stMed.gateway.ttlb), vsBare: sms(stMed.gateway.ttlb - stMed["bare Worker"].ttlb), target: "", met: "—" },
    );

    // 4. A 50 MB stream: it completes, and the Worker's workerd stays flat.
    say("4/7 a 50 MiB stream …");
    await call("POST", `${fake.url}/__fake/faults`, {
      faults: [
        { model: "gpt-4.1-large", mode: "large", bytes: LARGE_BYTES, chunkBytes: 16_384 },
        { model: "gpt-4.1-large-control", mode: "large", bytes: LARGE_BYTES / 10, chunkBytes: 16_384 },
      ],
    });
    type Big = { seconds: number; bytes: number; rssBefore: number; peak: number; rssAfter: number; hwmBefore: number; hwmAfter: number; peakReset: boolean };
    /** One big stream, with the serving process's RSS before, at its peak (VmHWM reset first, and sampled) and after. */
    const bigStream = async (api: string, pid: number, model: string, what: string, rep: number): Promise<Big> => {
      const before = memoryOf(pid);
      const peakReset = resetPeak(pid);
      let sampled = before.rss;
      const sampler = setInterval(() => {
        try {
          sampled = Math.max(sampled, memoryOf(pid).rss);
        } catch {
          // Gone.
        }
      }, 20);
      const agent = keepAlive(1);
      const r = await send(`${api}/chat/completions`, { method: "POST", headers: JSON_HEADERS, body: chatBody(model, `large ${rep}`, true), agent, discardBody: true, timeoutMs: 120_000 });
      agent.destroy();
      clearInterval(sampler);
      await sleep(200);
      const after = memoryOf(pid);
      const ok = r.status === 200 && r.transportError === null && r.body.trimEnd().endsWith("data: [DONE]");
      expectOk(what, ok, `status ${r.status}, ${r.bytes} bytes, ${r.transportError ?? ""} ends ${JSON.stringify(r.body.slice(-30))}`);
      return { seconds: r.ttlb / 1000, bytes: r.bytes, rssBefore: before.rss, peak: Math.max(sampled, peakReset ? after.hwm : 0), rssAfter: after.rss, hwmBefore: before.hwm, hwmAfter: after.hwm, peakReset };
    };
    const large = byCol((): Big[] => []);
    const control: Big[] = [];
    for (let rep = 0; rep < reps; rep++) {
      for (const c of columns) {
        const pid = c.name === "gateway" ? gw.workerdPid() : c.name === "bare Worker" ? bare.workerdPid() : fake.pid;
        if (!pid) throw new Error(`no process for ${c.name}`);
        if (c.name === "gateway") control.push(await bigStream(c.api, pid, "gpt-4.1-large-control", "5 MiB stream gateway", rep));
        large[c.name].push(await bigStream(c.api, pid, "gpt-4.1-large", `50 MiB stream ${c.name}`, rep));
      }
    }
    await call("DELETE", `${fake.url}/__fake/faults`);
    raw["largeStream"] = { ...large, "gateway, 5 MiB control": control };
    const lg = byCol((c) => ({
      seconds: med(large[c.name].map((r) => r.seconds)),
      growth: med(large[c.name].map((r) => r.peak - r.rssBefore)),
      before: med(large[c.name].map((r) => r.rssBefore)),
      peak: med(large[c.name].map((r) => r.peak)),
      after: med(large[c.name].map((r) => r.rssAfter)),
    }));
    const controlGrowth = med(control.map((r) => r.peak - r.rssBefore));
    const mbps = (c: ColumnName) => `${((large[c][0]?.bytes ?? 0) / MB / lg[c].seconds).toFixed(0)} MiB/s`;
    // "Flat": the peak grows by less than a fifth of the stream (holding it would take ≥ 50 MiB,
    // twice that as JS strings); repetitions vary by a few MiB as V8 sizes its heap.
    const flatLimit = LARGE_BYTES / 5;
    const lastBad = problems.some((p) => p.startsWith("50 MiB stream gateway"));
    rows.push(
      { scenario: "50 MiB stream (3,200 events)", metric: "time to last byte", direct: `${lg["upstream direct"].seconds.toFixed(2)} s (${mbps("upstream direct")})`, bare: `${lg["bare Worker"].seconds.toFixed(2)} s (${mbps("bare Worker")})`, gateway: `${lg.gateway.seconds.toFixed(2)} s (${mbps("gateway")})`, vsBare: `${(lg.gateway.seconds / lg["bare Worker"].seconds).toFixed(2)}×`, target: "completes", met: lastBad ? "no" : "yes" },
      { scenario: "", metric: "peak RSS growth", direct: `${mib(lg["upstream direct"].growth)} (Node)`, bare: mib(lg["bare Worker"].growth), gateway: `${mib(lg.gateway.growth)} (5 MiB stream: ${mib(controlGrowth)})`, vsBare: "", target: "flat: < 10 MiB", met: lg.gateway.growth <= flatLimit ? "yes" : "no" },
      { scenario: "", metric: "  each repetition", direct: "", bare: large["bare Worker"].map((r) => (r.peak - r.rssBefore) / MB).map((v) => v.toFixed(1)).join(" / ") + " MiB", gateway: large.gateway.map((r) => ((r.peak - r.rssBefore) / MB).toFixed(1)).join(" / ") + " MiB", vsBare: "", target: "", met: "—" },
      { scenario: "", metric: "workerd RSS before → peak → after", direct: "", bare: `${mib(lg["bare Worker"].before)} → ${mib(lg["bare Worker"].peak)} → ${mib(lg["bare Worker"].after)}`, gateway: `${mib(lg.gateway.before)} → ${mib(lg.gateway.peak)} → ${mib(lg.gateway.after)}`, vsBare: "", target: "", met: "—" },
    );

    // 6. Open circuit and cache fallback, against /healthz in the same run.
    say("5/7 open circuit and cache fallback …");
    const healthz = `${gw.url}/healthz`;
    const isHealth = (s: number, _h: Record<string, unknown>, b: string) => (s === 200 && b.includes('"ok"') ? null : "not ok");
    const openBody = chatBody("gpt-4.1-open", "open circuit please");
    const cachedBody = chatBody("gpt-4.1-cached", "a cached answer please");
    const isOpen = (s: number, _h: Record<string, unknown>, b: string) => (s === 503 && b.includes('"circuit_open"') ? null : "not a 503 circuit_open");
    const fromCache = (s: number, h: Record<string, unknown>, b: string) =>
      s === 200 && h["x-gateway-source"] === "cache" && b.includes('"chat.completion"') ? null : `not served from cache (source ${String(h["x-gateway-source"])})`;
    // Prime the cache with one success and wait for its background write to be counted.
    const writesBefore = await A.metric('gateway_cache_writes_total{model="gpt-4.1-cached",result="ok"}');
    const primed = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: JSON_HEADERS, body: cachedBody });
    expectOk("cache priming", primed.status === 200, `status ${primed.status}`);
    await primed.text();
    for (let i = 0; i < 50; i++) {
      if ((await A.metric('gateway_cache_writes_total{model="gpt-4.1-cached",result="ok"}')) > writesBefore) break;
      await sleep(100);
    }
    await A.open("gpt-4.1-open");
    await A.open("gpt-4.1-cached");
    // The isolate learns of the forced open within 2 × snapshotTtlMs.
    const agent = keepAlive(1);
    for (const [body, check] of [[openBody, isOpen], [cachedBody, fromCache]] as const) {
      for (let i = 0; i < 60; i++) {
        const r = await send(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { ...JSON_HEADERS, "x-gateway-fallback": body === openBody ? "none" : "all" }, body, agent });
        if (check(r.status, r.headers, r.body) === null) break;
        await sleep(100);
      }
    }
    agent.destroy();
    // Baselines in the bare Worker: a no-op answer and one KV read of an entry of the same size.
    await call("PUT", `${bare.url}/__kv`, { answer: "x".repeat(600) });
    const open = { healthz: [] as SeqResult[], open: [] as SeqResult[], cache: [] as SeqResult[], ping: [] as SeqResult[], kv: [] as SeqResult[] };
    for (let rep = 0; rep < reps; rep++) {
      open.healthz.push(await sequential({ url: healthz, n: 300, check: isHealth, what: "healthz" }));
      open.open.push(await sequential({ url: `${gw.url}/v1/chat/completions`, n: 300, method: "POST", headers: { ...JSON_HEADERS, "x-gateway-fallback": "none" }, body: () => openBody, check: isOpen, what: "circuit_open" }));
      open.cache.push(await sequential({ url: `${gw.url}/v1/chat/completions`, n: 300, method: "POST", headers: JSON_HEADERS, body: () => cachedBody, check: fromCache, what: "cache fallback" }));
      open.ping.push(await sequential({ url: `${bare.url}/__ping`, n: 300, check: (s) => (s === 200 ? null : "not 200"), what: "bare ping" }));
      open.kv.push(await sequential({ url: `${bare.url}/__kv`, n: 300, check: (s) => (s === 200 ? null : "not 200"), what: "bare KV read" }));
    }
    await A.reset("gpt-4.1-open");
    await A.reset("gpt-4.1-cached");
    raw["openCircuit"] = open;
    const o50 = (k: keyof typeof open) => med(open[k].map((r) => r.p50));
    const kvRead = Math.max(0, o50("kv") - o50("ping"));
    const openRatio = o50("open") / o50("healthz");
    const cacheLimit = 2 * o50("healthz") + kvRead;
    rows.push(
      { scenario: "open circuit (1 client, 300 req)", metric: "GET /healthz p50", direct: "—", bare: `${ms(o50("ping"))} (no-op)`, gateway: ms(o50("healthz")), vsBare: "", target: "", met: "—" },
      { scenario: "", metric: "503 circuit_open p50", direct: "—", bare: "—", gateway: ms(o50("open")), vsBare: `${openRatio.toFixed(2)}× healthz`, target: "≤ 1.5× healthz", met: openRatio <= 1.5 ? "yes" : "no" },
      { scenario: "", metric: "cache fallback p50", direct: "—", bare: `${ms(o50("kv"))} (1 KV read)`, gateway: ms(o50("cache")), vsBare: `${(o50("cache") / o50("healthz")).toFixed(2)}× healthz`, target: `≤ 2× healthz + KV read = ${ms(cacheLimit)}`, met: o50("cache") <= cacheLimit ? "yes" : "no" },
    );

    // 7. Cache writes on vs off, the same load (unique prompts, so every answer is written).
    say("6/7 cache on vs off, 10 connections, streaming, unique prompts …");
    const cacheRuns = { direct: [] as LoadResult[], bare: [] as LoadResult[], off: [] as LoadResult[], on: [] as LoadResult[] };
    const writes: { answers: number; writes: number }[] = [];
    const cacheCpu = { direct: [] as number[], bare: [] as number[], off: [] as number[], on: [] as number[] };
    for (let rep = 0; rep < reps; rep++) {
      const plan: [keyof typeof cacheRuns, string, string][] = [
        ["direct", columns[0]!.api, "gpt-4.1"],
        ["bare", columns[1]!.api, "gpt-4.1"],
        // Alternate which gateway variant goes first, so drift does not favour one.
        ...((rep % 2 === 0
          ? [["off", columns[2]!.api, "gpt-4.1-nocache"], ["on", columns[2]!.api, "gpt-4.1"]]
          : [["on", columns[2]!.api, "gpt-4.1"], ["off", columns[2]!.api, "gpt-4.1-nocache"]]) as [keyof typeof cacheRuns, string, string][]),
      ];
      for (const [k, api, model] of plan) {
        const series = 'gateway_cache_writes_total{model="gpt-4.1",result="ok"}';
        const w0 = k === "on" ? await A.metric(series) : 0;
        const pid = k === "direct" ? fake.pid : k === "bare" ? bare.workerdPid() ?? 0 : gw.workerdPid() ?? 0;
        const c0 = cpuMs(pid);
        const r = await load({ url: `${api}/chat/completions`, connections: 10, duration: 4, body: (i) => chatBody(model, `cache ${k} ${rep} ${i} ${Math.random()}`, true) });
        cacheCpu[k].push((cpuMs(pid) - c0) / r.count);
        expectOk(`cache ${k}`, r.non2xx === 0 && r.errors === 0, `${r.non2xx} non-2xx, ${r.errors} errors`);
        cacheRuns[k].push(r);
        if (k === "on") {
          await sleep(1500);
          writes.push({ answers: r.count, writes: (await A.metric(series)) - w0 });
        }
      }
    }
    raw["cacheOnOff"] = { ...cacheRuns, writes, cpuPerRequest: cacheCpu };
    const cm = (k: keyof typeof cacheRuns) => ({ p50: med(cacheRuns[k].map((r) => r.p50)), mean: med(cacheRuns[k].map((r) => r.mean)), rps: med(cacheRuns[k].map((r) => r.rps)) });
    const cOff = cm("off");
    const cOn = cm("on");
    const cacheCost = cOn.p50 / cOff.p50 - 1;
    rows.push(
      { scenario: "stream, 10 conn, 4 s: cache off", metric: "last byte p50", direct: ms2(cm("direct").p50), bare: ms2(cm("bare").p50), gateway: ms2(cOff.p50), vsBare: sms2(cOff.p50 - cm("bare").p50), target: "", met: "—" },
      { scenario: "  cache on (every answer written)", metric: "last byte p50", direct: ms2(cm("direct").p50), bare: ms2(cm("bare").p50), gateway: ms2(cOn.p50), vsBare: `${cacheCost >= 0 ? "+" : ""}${pct(cacheCost)} vs off`, target: "≤ +5 %", met: cacheCost <= 0.05 ? "yes" : "no" },
      { scenario: "", metric: "throughput off → on", direct: rps(cm("direct").rps), bare: rps(cm("bare").rps), gateway: `${rps(cOff.rps)} → ${rps(cOn.rps)}`, vsBare: "", target: "", met: "—" },
      { scenario: "", metric: "CPU / req off → on", direct: `${ms(med(cacheCpu.direct))} (Node)`, bare: ms(med(cacheCpu.bare)), gateway: `${ms(med(cacheCpu.off))} → ${ms(med(cacheCpu.on))}`, vsBare: "", target: "", met: "—" },
      { scenario: "", metric: "KV writes / answers", direct: "—", bare: "—", gateway: writes.map((w) => `${w.writes}/${w.answers}`).join(", "), vsBare: "", target: "", met: "—" },
    );

    // The table.
    say("7/7 done.");
    say();
    const header = ["scenario", "metric", "upstream direct", "bare Worker", "gateway", "gateway vs bare", "target", "met"];
    const cells = [header, ...rows.map((r) => [r.scenario, r.metric, r.direct, r.bare, r.gateway, r.vsBare, r.target, r.met])];
    say(table(cells));
    say();
    const missed = rows.filter((r) => r.met === "no");
    say(missed.length === 0 ? "Every target met." : `Targets missed: ${missed.length} (rows marked "no").`);
    const seconds = (performance.now() - t0) / 1000;
    say(`Took ${seconds.toFixed(0)} s. Raw numbers: bench/results.json.`);

    const wranglerVersion = (JSON.parse(readFileSync(join(ROOT, "node_modules", "wrangler", "package.json"), "utf8")) as { version: string }).version;
    writeFileSync(
      join(ROOT, "bench", "results.json"),
      `${JSON.stringify(
        {
          at: new Date().toISOString(),
          machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? "", node: process.version, wrangler: wranglerVersion },
          repetitions: reps,
          seconds,
          rows,
          markdownTable: markdownTable(cells),
          problems,
          raw,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await Promise.all([bare?.stop(), gw?.stop(), fake?.stop()]);
    if (gw && problems.length > 0) say(`gateway log kept in ${gw.logFile}`);
    else tmp.remove();
    reportProblems();
  }
}

function reportProblems(): void {
  if (problems.length > 0) {
    say();
    say(`The bench saw wrong answers (${problems.length}):`);
    for (const p of problems) say(`  ${p}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
