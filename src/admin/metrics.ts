import type { CircuitDetail } from "../breaker/protocol";
import { LATENCY_BUCKETS } from "../metrics/request-metrics";
import { metricName, series } from "../metrics/series";

type Kind = "counter" | "gauge" | "histogram";

/** Every metric the gateway exposes; series without an entry here are not rendered. */
const METRICS: Record<string, { type: Kind; help: string }> = {
  gateway_requests_total: {
    type: "counter",
    help: "Chat requests answered, by requested model, tenant, source and status class.",
  },
  gateway_upstream_attempts_total: {
    type: "counter",
    help: "Upstream attempts by model and outcome (committed, or the failure's class).",
  },
  gateway_upstream_latency_seconds: {
    type: "histogram",
    help: "Time from an upstream attempt's start to its commit or failure.",
  },
  gateway_fallbacks_total: { type: "counter", help: "Requests served by a fallback step, by requested model and step." },
  gateway_cache_lookups_total: { type: "counter", help: "Fallback cache lookups by model and result (hit, miss, stale, error)." },
  gateway_cache_writes_total: { type: "counter", help: "Fallback cache writes by model and result (ok, failed)." },
  gateway_tokens_total: { type: "counter", help: "Tokens by serving model, tenant and kind (prompt, completion)." },
  gateway_spend_usd_total: {
    type: "counter",
    help: "Estimated spend in US dollars by serving model and tenant, from priceUsdPerMTok.",
  },
  gateway_fallback_spend_saved_usd_total: {
    type: "counter",
    help: "Estimated dollars saved by serving with a cheaper fallback model (same tokens priced at both).",
  },
  gateway_fallback_spend_added_usd_total: {
    type: "counter",
    help: "Estimated dollars added by serving with a dearer fallback model (same tokens priced at both).",
  },
  gateway_local_skips_total: { type: "counter", help: "Requests an isolate skipped from its snapshot, by model and reason." },
  gateway_breaker_object_errors_total: { type: "counter", help: "Breaker Durable Object calls that failed, by model and kind." },
  gateway_breaker_report_drops_total: {
    type: "counter",
    help: "Parts of isolate reports a breaker object dropped, by model and part (outcome, delta, report, duplicate, failed).",
  },
  gateway_circuit_transitions_total: { type: "counter", help: "Circuit transitions by model, from and to." },
  gateway_circuit_outcomes_total: { type: "counter", help: "Outcomes applied to a circuit, by model and outcome." },
  gateway_circuit_opens_total: { type: "counter", help: "Times a circuit stopped admitting (opened or was forced open)." },
  gateway_circuit_expired_leases_total: { type: "counter", help: "Half-open probe leases that expired without a report." },
  gateway_breaker_object_calls_total: { type: "counter", help: "Calls answered by a model's breaker Durable Object." },
  gateway_circuit_state: { type: "gauge", help: "1 for the circuit's current state, 0 for the others." },
  gateway_circuit_cooling: { type: "gauge", help: "1 while the model cools after a 429." },
  gateway_circuit_cooling_remaining_seconds: { type: "gauge", help: "Seconds until the model's cool-down ends." },
  gateway_circuit_consecutive_failures: { type: "gauge", help: "Consecutive failures counted by a closed circuit." },
  gateway_circuit_half_open_in_flight: { type: "gauge", help: "Half-open probes in flight." },
};

const STATES = ["closed", "open", "half_open", "forced_open"] as const;

function histogramBase(name: string): string {
  return name.replace(/_(bucket|sum|count)$/, "");
}

function circuitSeries(c: CircuitDetail, now: number): Record<string, number> {
  const m = { model: c.model };
  const out: Record<string, number> = {};
  for (const state of STATES) out[series("gateway_circuit_state", { ...m, state })] = c.state === state ? 1 : 0;
  const cooling = c.coolingUntil !== null && c.coolingUntil > now;
  out[series("gateway_circuit_cooling", m)] = cooling ? 1 : 0;
  out[series("gateway_circuit_cooling_remaining_seconds", m)] =
    cooling && c.coolingUntil !== null ? (c.coolingUntil - now) / 1000 : 0;
  out[series("gateway_circuit_consecutive_failures", m)] = c.consecutiveFailures;
  out[series("gateway_circuit_half_open_in_flight", m)] = c.halfOpenInFlight;
  const l = c.lifetime;
  const outcomes = {
    success: l.successes,
    failure: l.failures,
    rate_limited: l.rateLimited,
    client_abort: l.clientAborts,
    ignored: l.ignored,
  };
  for (const [outcome, n] of Object.entries(outcomes)) out[series("gateway_circuit_outcomes_total", { ...m, outcome })] = n;
  out[series("gateway_circuit_opens_total", m)] = l.opens;
  out[series("gateway_circuit_expired_leases_total", m)] = l.expiredLeases;
  out[series("gateway_breaker_object_calls_total", m)] = c.calls;
  return out;
}

/** Histograms must list every bucket: fill the ones no observation reached yet. */
function completeHistograms(all: Record<string, number>): void {
  for (const key of Object.keys(all)) {
    const match = /^gateway_upstream_latency_seconds_count\{model="((?:[^"\\]|\\.)*)"\}$/.exec(key);
    if (!match) continue;
    const model = (match[1] ?? "").replace(/\\(.)/g, "$1");
    for (const le of [...LATENCY_BUCKETS, "+Inf"]) {
      const bucket = series("gateway_upstream_latency_seconds_bucket", { model, le });
      all[bucket] ??= 0;
    }
  }
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(12)));
}

/** The Prometheus text exposition of every circuit and every series the isolates reported. */
export function renderMetrics(circuits: CircuitDetail[], reported: Record<string, number>[], now: number): string {
  const all: Record<string, number> = {};
  for (const part of [...reported, ...circuits.map((c) => circuitSeries(c, now))]) {
    for (const [key, value] of Object.entries(part)) all[key] = (all[key] ?? 0) + value;
  }
  completeHistograms(all);
  const groups = new Map<string, string[]>();
  for (const key of Object.keys(all).sort()) {
    const name = metricName(key);
    const base = METRICS[name] ? name : histogramBase(name);
    if (METRICS[base]?.type === "histogram" && base === name) continue;
    if (!METRICS[base]) continue;
    const lines = groups.get(base) ?? [];
    lines.push(`${key} ${formatValue(all[key] ?? 0)}`);
    groups.set(base, lines);
  }
  let text = "";
  for (const [name, def] of Object.entries(METRICS)) {
    const lines = groups.get(name);
    if (!lines) continue;
    text += `# HELP ${name} ${def.help}\n# TYPE ${name} ${def.type}\n${lines.join("\n")}\n`;
  }
  return text;
}
