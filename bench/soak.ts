// `npm run soak [-- --short]`: a bounded load against the gateway under `wrangler dev` while the
// simulated upstream flaps between healthy, 5xx, hangs, 429s and cut streams. Checks the
// invariants of issue 6 at the end and exits non-zero on any violation. Loopback only; the load
// stops by itself (request count and time are both capped).
import { readFileSync, statSync } from "node:fs";
import {
  call, getJson, keepAlive, percentile, send, sleep, startFake, startWrangler, table, tempDir, GATEWAY_FILES, type FakeProcess, type Timed,
  type WranglerProcess,
} from "./lib";

const short = process.argv.includes("--short");
/** Requests to send, the least that counts as a soak, and the cap on the load phase. */
const PLAN = short ? { requests: 4_000, minimum: 1_000, seconds: 40, phaseMs: 1_000 } : { requests: 24_000, minimum: 20_000, seconds: 240, phaseMs: 2_500 };
const CONCURRENCY = 16;
const TOKEN = "soak-admin-token";
const KEY = "sk-soak-dummy";

const TIMEOUTS = { requestMs: 500, deadlineMs: 1500, streamIdleMs: 500, streamTotalMs: 3000 };
const HALF_OPEN_MAX = 3;
const GATEWAY_CONFIG = {
  breaker: { failureThreshold: 5, successThreshold: 2, openTimeoutMs: 1000, halfOpenMaxCalls: HALF_OPEN_MAX },
  models: {
    "gpt-4.1": { fallbacks: ["deepseek-v3.2"], priceUsdPerMTok: 8.0 },
    "claude-sonnet-4.5": { fallbacks: ["gpt-4.1", "deepseek-v3.2"], priceUsdPerMTok: 15.0, breaker: { failureThreshold: 3 } },
    "gemini-2.5-flash": { fallbacks: ["deepseek-v3.2"], priceUsdPerMTok: 2.5 },
    "deepseek-v3.2": { fallbacks: [], priceUsdPerMTok: 0.42 },
  },
  timeouts: TIMEOUTS,
  retry: { maxRetries: 1, maxAttempts: 4, baseDelayMs: 50, maxDelayMs: 2000 },
  // Limits stay on but out of reach: the soak is about the upstream flapping.
  tenants: { default: { requestsPerMinute: 1_000_000_000 }, ip: { requestsPerMinute: 1_000_000_000 } },
  snapshotTtlMs: 250,
};
const MODELS = Object.keys(GATEWAY_CONFIG.models);
const CONTRACT_STATUSES = new Set([400, 404, 429, 502, 503, 504]);
/** Past the deadline, how late an answer (or a stream's first byte) may be. */
const GRACE_MS = 1000;

type Fault = Record<string, unknown>;
/** The upstream's schedule, cycled through; every phase but "healthy" breaks something. */
const PHASES: { name: string; faults: Fault[] }[] = [
  { name: "healthy", faults: [] },
  { name: "5xx gpt-4.1", faults: [{ model: "gpt-4.1", mode: "status", status: 503 }] },
  { name: "hang claude, 500 deepseek", faults: [{ model: "claude-sonnet-4.5", mode: "hang" }, { model: "deepseek-v3.2", mode: "status", status: 500 }] },
  { name: "healthy", faults: [] },
  { name: "429 everywhere", faults: [{ model: "*", mode: "status", status: 429, retryAfter: "1" }] },
  { name: "cut streams", faults: [{ model: "*", mode: "cut_after", after: 3 }] },
  { name: "healthy", faults: [] },
  { name: "5xx everywhere", faults: [{ model: "*", mode: "status", status: 500 }] },
  { name: "hang everywhere", faults: [{ model: "*", mode: "hang" }] },
  { name: "healthy", faults: [] },
  { name: "idle streams, slow headers", faults: [{ model: "*", mode: "slow_chunks", delayMs: 700 }, { model: "gemini-2.5-flash", mode: "slow_headers", delayMs: 700 }] },
  { name: "error events, bad JSON", faults: [{ model: "gpt-4.1", mode: "error_event" }, { model: "gemini-2.5-flash", mode: "bad_json" }, { model: "claude-sonnet-4.5", mode: "bad_sse" }] },
];

const say = (line = "") => process.stdout.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// Judging one answer

interface Outcome {
  requested: string;
  stream: boolean;
  status: number;
  /** json | done | error_event | error:<code> | malformed */
  kind: string;
  source: string;
  servedBy: string;
  ms: number;
  /** For a 200 stream: time to first byte. */
  firstByteMs: number;
  problem: string | null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The `data:` payloads of an SSE body, or null if some event is not a data event. */
function sseData(body: string): string[] | null {
  const events = body.split("\n\n");
  if (events.at(-1) !== "") return null; // Every event ends with a blank line.
  const out: string[] = [];
  for (const e of events.slice(0, -1)) {
    if (!e.startsWith("data: ")) return null;
    out.push(e.slice(6));
  }
  return out;
}

function judge(requested: string, stream: boolean, r: Timed): Outcome {
  const header = (name: string) => {
    const v = r.headers[name];
    return typeof v === "string" ? v : "";
  };
  const o: Outcome = {
    requested, stream, status: r.status, kind: "malformed", source: header("x-gateway-source") || "-",
    servedBy: header("x-gateway-model") || "-", ms: r.ttlb, firstByteMs: r.ttfb, problem: null,
  };
  if (r.transportError !== null) {
    o.kind = "transport_error";
    o.problem = `transport error: ${r.transportError}`;
    return o;
  }
  const type = header("content-type");
  if (r.status === 200 && type.startsWith("application/json")) {
    const body = parse(r.body);
    o.kind = "json";
    if (!isRecord(body) || body["object"] !== "chat.completion" || !Array.isArray(body["choices"])) o.problem = "200 JSON that is not a chat.completion";
    return o;
  }
  if (r.status === 200 && type.startsWith("text/event-stream")) {
    const data = sseData(r.body);
    if (data === null || data.length === 0) {
      o.problem = "a stream with a malformed event";
      return o;
    }
    const last = data.at(-1) as string;
    const chunks = data.slice(0, -1);
    const chunksOk = chunks.every((d) => {
      const c = parse(d);
      return isRecord(c) && c["object"] === "chat.completion.chunk";
    });
    if (last === "[DONE]") {
      o.kind = "done";
      if (!chunksOk) o.problem = "a stream with a bad chunk before [DONE]";
      return o;
    }
    const err = parse(last);
    const e = isRecord(err) ? err["error"] : undefined;
    if (isRecord(e) && e["type"] === "upstream_error" && typeof e["message"] === "string") {
      o.kind = "error_event";
      if (!chunksOk || data.includes("[DONE]")) o.problem = "an SSE error event after a bad chunk or [DONE]";
      return o;
    }
    o.problem = `a stream ending in neither [DONE] nor an error event: ${last.slice(0, 120)}`;
    return o;
  }
  const body = parse(r.body);
  const e = isRecord(body) ? body["error"] : undefined;
  const shaped = isRecord(e) && typeof e["message"] === "string" && typeof e["type"] === "string" && "code" in e && "param" in e;
  o.kind = shaped && isRecord(e) ? `error:${String(e["code"])}` : "malformed";
  if (!CONTRACT_STATUSES.has(r.status)) o.problem = `status ${r.status} is not a contract status: ${r.body.slice(0, 160)}`;
  else if (!shaped) o.problem = `a ${r.status} whose body is not an OpenAI error: ${r.body.slice(0, 160)}`;
  return o;
}

// ---------------------------------------------------------------------------------------------

interface CircuitJson {
  model: string;
  state: string;
  halfOpenInFlight: number;
}

async function main(): Promise<number> {
  const t0 = performance.now();
  say(`Soak${short ? " (--short)" : ""}: up to ${PLAN.requests} requests in at most ${PLAN.seconds} s, ${CONCURRENCY} at a time, against the gateway`);
  say("under `wrangler dev` (what `npm run dev` runs) while the simulated upstream flaps. Loopback only.");
  say(`Timeouts ${JSON.stringify(TIMEOUTS)}, breaker openTimeoutMs 1000, halfOpenMaxCalls ${HALF_OPEN_MAX}, snapshotTtlMs 250.`);
  const tmp = tempDir("gateway-soak-");
  let fake: FakeProcess | null = null;
  let gw: WranglerProcess | null = null;
  const violations: string[] = [];
  let keepLogs = false;
  // Ends the schedule and the watchers, however the run ends.
  let stop = false;
  try {
    fake = await startFake();
    gw = await startWrangler({
      name: "gateway",
      files: GATEWAY_FILES,
      dir: tmp.dir,
      vars: {
        HOLYSHEEP_BASE_URL: `${fake.url}/v1`,
        HOLYSHEEP_API_KEY: KEY,
        ALLOW_ANONYMOUS: "true",
        ADMIN_TOKEN: TOKEN,
        GATEWAY_CONFIG: JSON.stringify(GATEWAY_CONFIG),
        DEV_MODE: "",
        CLIENT_KEYS: "",
        ALERT_WEBHOOK_URL: "",
      },
    });
    const gwUrl = gw.url;
    const fakeUrl = fake.url;
    say(`started: upstream ${fakeUrl}, gateway ${gwUrl} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

    const endAt = performance.now() + PLAN.seconds * 1000;

    // The upstream's schedule. Where each phase began in the gateway's log, to place its errors.
    const phaseCounts = new Map<string, number>();
    const phaseStarts: { name: string; logOffset: number }[] = [];
    const logFile = gw.logFile;
    const logSize = () => {
      try {
        return statSync(logFile).size;
      } catch {
        return 0;
      }
    };
    const flapper = (async () => {
      for (let i = 0; !stop; i++) {
        const phase = PHASES[i % PHASES.length] as (typeof PHASES)[number];
        await call("DELETE", `${fakeUrl}/__fake/faults`);
        if (phase.faults.length > 0) await call("POST", `${fakeUrl}/__fake/faults`, { faults: phase.faults });
        phaseCounts.set(phase.name, (phaseCounts.get(phase.name) ?? 0) + 1);
        phaseStarts.push({ name: phase.name, logOffset: logSize() });
        for (let waited = 0; waited < PLAN.phaseMs && !stop; waited += 100) await sleep(100);
      }
      await call("DELETE", `${fakeUrl}/__fake/faults`);
    })().catch((err: unknown) => {
      stop = true;
      violations.push(`the upstream's faults could not be switched: ${err instanceof Error ? err.message : String(err)}`);
    });

    // The watchers: circuits (half-open probes in flight) and the fake's concurrency.
    const maxHalfOpen = new Map<string, number>();
    const statesSeen = new Map<string, Set<string>>();
    const upstreamWhileHalfOpen = new Map<string, number>();
    let polls = 0;
    let pollErrors = 0;
    const watcher = (async () => {
      let previous = new Map<string, string>();
      while (!stop) {
        const started = performance.now();
        try {
          const [{ circuits }, stats] = await Promise.all([
            getJson<{ circuits: CircuitJson[] }>(`${gwUrl}/admin/circuits`, TOKEN),
            getJson<{ maxInFlight: Record<string, number> }>(`${fakeUrl}/__fake/stats`),
          ]);
          // Each window's upstream concurrency starts afresh (this also trims the fake's request log).
          await fetch(`${fakeUrl}/__fake/stats`, { method: "DELETE" }).then((r) => r.arrayBuffer());
          polls++;
          const now = new Map<string, string>();
          for (const c of circuits) {
            now.set(c.model, c.state);
            maxHalfOpen.set(c.model, Math.max(maxHalfOpen.get(c.model) ?? 0, c.halfOpenInFlight));
            const seen = statesSeen.get(c.model) ?? new Set<string>();
            seen.add(c.state);
            statesSeen.set(c.model, seen);
            if (c.state === "half_open" && previous.get(c.model) === "half_open") {
              upstreamWhileHalfOpen.set(c.model, Math.max(upstreamWhileHalfOpen.get(c.model) ?? 0, stats.maxInFlight[c.model] ?? 0));
            }
          }
          previous = now;
        } catch {
          pollErrors++;
        }
        await sleep(Math.max(0, 100 - (performance.now() - started)));
      }
    })();

    // The load: CONCURRENCY clients, each sending one request after another until the plan is spent.
    const outcomes: Outcome[] = [];
    const pool = Array.from({ length: 40 }, (_, i) => `a question asked often, number ${i}`);
    let issued = 0;
    const agent = keepAlive(CONCURRENCY);
    const client = async (id: number) => {
      while (issued < PLAN.requests && performance.now() < endAt) {
        const n = issued++;
        const r = Math.random();
        const model = MODELS[r < 0.4 ? 0 : r < 0.6 ? 1 : r < 0.8 ? 2 : 3] as string;
        const stream = Math.random() < 0.5;
        const prompt = Math.random() < 0.3 ? (pool[n % pool.length] as string) : `soak ${id} ${n} ${Math.random()}`;
        const headers: Record<string, string> = { "content-type": "application/json", authorization: "Bearer sk-any" };
        if (Math.random() < 0.1) headers["x-gateway-fallback"] = "none";
        const res = await send(`${gwUrl}/v1/chat/completions`, {
          method: "POST",
          headers,
          body: JSON.stringify({ model, stream, messages: [{ role: "user", content: prompt }] }),
          agent,
          timeoutMs: TIMEOUTS.deadlineMs + TIMEOUTS.streamTotalMs + 5000,
        });
        outcomes.push(judge(model, stream, res));
      }
    };
    const progress = setInterval(() => {
      const s = (performance.now() - t0) / 1000;
      say(`  ${outcomes.length} answers after ${s.toFixed(0)} s`);
    }, short ? 10_000 : 30_000);
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => client(i)));
    clearInterval(progress);
    agent.destroy();
    const loadSeconds = (performance.now() - t0) / 1000;
    stop = true;
    await Promise.all([flapper, watcher]);
    // Let the last reports reach the circuits before reading the metrics.
    await sleep(1000);
    const metricsText = await (await fetch(`${gwUrl}/admin/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    const transitions: string[][] = [];
    let transitionsTotal = 0;
    for (const m of metricsText.matchAll(/^gateway_circuit_transitions_total\{([^}]*)\} (\S+)$/gm)) {
      const labels = Object.fromEntries([...(m[1] as string).matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      transitions.push([labels["model"] ?? "", `${labels["from"]} → ${labels["to"]}`, m[2] as string]);
      transitionsTotal += Number(m[2]);
    }
    // Every answer is counted once in the metrics (reports reach the objects within the TTL).
    let counted = 0;
    for (const m of metricsText.matchAll(/^gateway_requests_total\{[^}]*\} (\S+)$/gm)) counted += Number(m[1]);
    transitions.sort((a, b) => (`${a[0]} ${a[1]}` < `${b[0]} ${b[1]}` ? -1 : 1));

    // --- Invariants ---
    say();
    say(`${outcomes.length} requests answered in ${loadSeconds.toFixed(0)} s (${polls} circuit polls, ${pollErrors} failed).`);
    if (outcomes.length < PLAN.minimum) violations.push(`only ${outcomes.length} requests were answered in time (the soak needs at least ${PLAN.minimum})`);

    // 1. Well-formed answers.
    const bad = outcomes.filter((o) => o.problem !== null);
    say(`well-formed answers: ${outcomes.length - bad.length} of ${outcomes.length}`);
    if (bad.length > 0) {
      const kinds = new Map<string, number>();
      for (const o of bad) kinds.set(o.problem as string, (kinds.get(o.problem as string) ?? 0) + 1);
      violations.push(`${bad.length} answers were not well-formed: ${[...kinds].slice(0, 5).map(([p, n]) => `${n}× ${p}`).join("; ")}`);
    }

    // 2. Deadlines.
    const limit = TIMEOUTS.deadlineMs + GRACE_MS;
    const late = outcomes.filter((o) => (o.stream && o.status === 200 ? o.firstByteMs : o.ms) > limit);
    const nonStream = outcomes.filter((o) => !(o.stream && o.status === 200)).map((o) => o.ms);
    const firstBytes = outcomes.filter((o) => o.stream && o.status === 200).map((o) => o.firstByteMs);
    say(
      `deadline (${TIMEOUTS.deadlineMs} ms + ${GRACE_MS} ms): ${late.length} late; whole answers p50 ${percentile(nonStream, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(nonStream, 99).toFixed(1)} ms, max ${Math.max(0, ...nonStream).toFixed(1)} ms; stream first byte p99 ` +
        `${percentile(firstBytes, 99).toFixed(1)} ms, max ${Math.max(0, ...firstBytes).toFixed(1)} ms`,
    );
    if (late.length > 0) {
      const worst = late.reduce((a, b) => ((a.stream && a.status === 200 ? a.firstByteMs : a.ms) > (b.stream && b.status === 200 ? b.firstByteMs : b.ms) ? a : b));
      violations.push(`${late.length} answers outlived the deadline by more than ${GRACE_MS} ms (worst: ${worst.requested} ${worst.stream ? "stream" : "plain"} ${worst.status} ${worst.kind} after ${(worst.stream && worst.status === 200 ? worst.firstByteMs : worst.ms).toFixed(0)} ms)`);
    }

    // 3. Half-open probes.
    const probeLine = MODELS.map((m) => `${m} ${maxHalfOpen.get(m) ?? 0}`).join(", ");
    say(`half-open probes in flight, max seen by the admin API (limit ${HALF_OPEN_MAX}): ${probeLine}`);
    say(`  upstream concurrency the fake saw in 100 ms windows that were half_open at both ends (for reference; includes answers admitted before the circuit opened): ${MODELS.map((m) => `${m} ${upstreamWhileHalfOpen.get(m) ?? "-"}`).join(", ")}`);
    say(`  states seen: ${MODELS.map((m) => `${m} {${[...(statesSeen.get(m) ?? [])].join(", ")}}`).join("; ")}`);
    for (const m of MODELS) {
      if ((maxHalfOpen.get(m) ?? 0) > HALF_OPEN_MAX) violations.push(`${m}: ${maxHalfOpen.get(m)} half-open probes in flight (limit ${HALF_OPEN_MAX})`);
    }

    // 4. The gateway's log.
    await gw.stop();
    const raw = readFileSync(gw.logFile);
    const logText = raw.toString("utf8").replace(/\u001b\[[0-9;]*m/g, "");
    const crashes: string[] = [];
    const crashPhases = new Map<string, number>();
    let offset = 0;
    for (const line of raw.toString("utf8").split("\n")) {
      const plain = line.replace(/\u001b\[[0-9;]*m/g, "");
      if (/unhandled_error|uncaught|uncaught exception/i.test(plain)) {
        crashes.push(plain);
        const phase = phaseStarts.findLast((p) => p.logOffset <= offset)?.name ?? "before the load";
        crashPhases.set(phase, (crashPhases.get(phase) ?? 0) + 1);
      }
      offset += Buffer.byteLength(line) + 1;
    }
    const reloads = (logText.match(/Reloading local server/g) ?? []).length;
    const events = new Map<string, number>();
    for (const m of logText.matchAll(/"event":"([a-z_]+)"/g)) events.set(m[1] as string, (events.get(m[1] as string) ?? 0) + 1);
    say(`gateway log: ${crashes.length} unhandled errors; events ${[...events].sort((a, b) => b[1] - a[1]).map(([e, n]) => `${e} ${n}`).join(", ")}`);
    if (crashes.length > 0) {
      const distinct = [...new Set(crashes.map((c) => c.trim().slice(0, 200)))];
      // workerd reports "Promise will never complete" when V8 collects the promise, so the phase is
      // where an error was noticed, not necessarily where it was caused.
      say(`  unhandled errors by the upstream's phase when they were logged: ${[...crashPhases].map(([p, n]) => `${p} ${n}`).join(", ")}`);
      violations.push(`${crashes.length} unhandled errors in the gateway's log (${distinct.length} distinct: ${distinct.slice(0, 3).join(" | ")})`);
    }
    if (reloads > 0) violations.push(`wrangler reloaded the Worker ${reloads} times during the soak`);

    say(`metrics: gateway_requests_total counts ${counted} answers of ${outcomes.length}${counted === outcomes.length ? "" : " (a difference means outcome reports were lost)"}`);

    // 5. Outcomes and transitions.
    say();
    const counts = new Map<string, number>();
    for (const o of outcomes) {
      const key = [o.requested, o.stream ? "stream" : "plain", String(o.status), o.kind, o.source, o.servedBy].join("\u0000");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const rows = [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, n]) => [...k.split("\u0000"), String(n)]);
    say("Outcomes (requested model, kind of request, status, answer, x-gateway-source, x-gateway-model, count):");
    say(table([["requested", "request", "status", "answer", "source", "served by", "count"], ...rows]));
    say();
    say(`Phases run: ${[...phaseCounts].map(([p, n]) => `${p} ×${n}`).join(", ")}`);
    say(`Circuit transitions (gateway_circuit_transitions_total; ${events.get("circuit_transition") ?? 0} circuit_transition log lines):`);
    say(table([["model", "transition", "count"], ...transitions]));
    if (transitionsTotal === 0) violations.push("no circuit transition happened: the schedule did not exercise the breakers");
  } catch (err) {
    violations.push(`the soak could not run: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    stop = true;
    await Promise.all([gw?.stop(), fake?.stop()]);
    if (violations.length > 0 && gw) {
      keepLogs = true;
      say(`gateway log kept in ${gw.logFile}`);
    }
    if (!keepLogs) tmp.remove();
  }
  say();
  if (violations.length === 0) {
    say(`Soak over in ${((performance.now() - t0) / 1000).toFixed(0)} s: every invariant held.`);
    return 0;
  }
  say(`Invariants violated (${violations.length}):`);
  for (const v of violations) say(`  - ${v}`);
  say(`Soak over in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${violations.length} invariant(s) broken, see above.`);
  return 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
