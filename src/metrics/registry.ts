type MetricType = "counter" | "gauge" | "histogram";

interface MetricDeclaration {
  type: MetricType;
  help: string;
  /** In the order every key spells them; stored series keys depend on it, so append, never reorder. */
  labels: readonly string[];
  /** Histograms only: the buckets' upper bounds; `+Inf` is implied. */
  buckets?: readonly number[];
}

/**
 * Every metric the gateway exposes, declared once: series() accepts only these names with
 * exactly these labels, and /admin/metrics takes HELP and TYPE from here, in this order.
 */
export const METRICS = {
  gateway_requests_total: {
    type: "counter",
    help: "Chat requests answered, by requested model, tenant, source and status class.",
    labels: ["model", "tenant", "source", "status_class"],
  },
  gateway_upstream_attempts_total: {
    type: "counter",
    help: "Upstream attempts by model and outcome (committed, or the failure's class).",
    labels: ["model", "outcome"],
  },
  gateway_upstream_dropped_events_total: {
    type: "counter",
    help: "Upstream stream events dropped because they were not JSON, by model.",
    labels: ["model"],
  },
  gateway_upstream_latency_seconds: {
    type: "histogram",
    help: "Time from an upstream attempt's start to its commit or failure.",
    labels: ["model"],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  },
  gateway_fallbacks_total: {
    type: "counter",
    help: "Requests served by a fallback step, by requested model and step.",
    labels: ["model", "step"],
  },
  gateway_stream_continuations_total: {
    type: "counter",
    help: "Broken streams, by model, the model that continued them and outcome (spliced, none).",
    labels: ["model", "by", "outcome"],
  },
  gateway_cache_lookups_total: {
    type: "counter",
    help: "Fallback cache lookups by model and result (hit, miss, stale, error).",
    labels: ["model", "result"],
  },
  gateway_cache_writes_total: {
    type: "counter",
    help: "Fallback cache writes by model and result (ok, failed).",
    labels: ["model", "result"],
  },
  gateway_tokens_total: {
    type: "counter",
    help: "Tokens by serving model, tenant and kind (prompt, completion).",
    labels: ["model", "tenant", "kind"],
  },
  gateway_spend_usd_total: {
    type: "counter",
    help: "Estimated spend in US dollars by serving model and tenant, from priceUsdPerMTok.",
    labels: ["model", "tenant"],
  },
  gateway_fallback_spend_saved_usd_total: {
    type: "counter",
    help: "Estimated dollars saved by serving with a cheaper fallback model (same tokens priced at both).",
    labels: ["requested", "served"],
  },
  gateway_fallback_spend_added_usd_total: {
    type: "counter",
    help: "Estimated dollars added by serving with a dearer fallback model (same tokens priced at both).",
    labels: ["requested", "served"],
  },
  gateway_local_skips_total: {
    type: "counter",
    help: "Requests an isolate skipped from its snapshot, by model and reason.",
    labels: ["model", "reason"],
  },
  gateway_breaker_object_errors_total: {
    type: "counter",
    help: "Breaker Durable Object calls that failed, by model and kind.",
    labels: ["model", "kind"],
  },
  gateway_breaker_report_drops_total: {
    type: "counter",
    help: "Parts of isolate reports a breaker object dropped, by model and part (outcome, delta, report, duplicate, failed).",
    labels: ["model", "part"],
  },
  gateway_circuit_transitions_total: {
    type: "counter",
    help: "Circuit transitions by model, from and to.",
    labels: ["model", "from", "to"],
  },
  gateway_circuit_outcomes_total: {
    type: "counter",
    help: "Outcomes applied to a circuit, by model and outcome.",
    labels: ["model", "outcome"],
  },
  gateway_circuit_opens_total: {
    type: "counter",
    help: "Times a circuit stopped admitting (opened or was forced open).",
    labels: ["model"],
  },
  gateway_circuit_slow_calls_total: {
    type: "counter",
    help: "Successes whose first token came later than the model's slowCallMs (DESIGN §18).",
    labels: ["model"],
  },
  gateway_circuit_expired_leases_total: {
    type: "counter",
    help: "Half-open probe leases that expired without a report.",
    labels: ["model"],
  },
  gateway_breaker_object_calls_total: {
    type: "counter",
    help: "Calls answered by a model's breaker Durable Object.",
    labels: ["model"],
  },
  gateway_circuit_state: {
    type: "gauge",
    help: "1 for the circuit's current state, 0 for the others.",
    labels: ["model", "state"],
  },
  gateway_circuit_cooling: { type: "gauge", help: "1 while the model cools after a 429.", labels: ["model"] },
  gateway_circuit_cooling_remaining_seconds: {
    type: "gauge",
    help: "Seconds until the model's cool-down ends.",
    labels: ["model"],
  },
  gateway_circuit_consecutive_failures: {
    type: "gauge",
    help: "Consecutive failures counted by a closed circuit.",
    labels: ["model"],
  },
  gateway_circuit_half_open_in_flight: { type: "gauge", help: "Half-open probes in flight.", labels: ["model"] },
} as const satisfies Record<string, MetricDeclaration>;

type Declared = typeof METRICS;

export type MetricName = keyof Declared;

/** A metric's label values by label name; V is `string` once parsed back from a key. */
type Labels<N extends MetricName, V = string> = { readonly [L in Declared[N]["labels"][number]]: V };

type SampleOf<N extends MetricName, V> = Declared[N]["type"] extends "histogram"
  ?
      | { metric: N; name: `${N}_bucket`; labels: Labels<N, V> & { readonly le: V } }
      | { metric: N; name: `${N}_sum`; labels: Labels<N, V> }
      | { metric: N; name: `${N}_count`; labels: Labels<N, V> }
  : { metric: N; name: N; labels: Labels<N, V> };

/**
 * One series as the text format names it: a counter or gauge under its own name, a histogram as
 * its `_bucket` (with `le`), `_sum` and `_count` samples. Narrow on `name` to read the labels.
 */
export type Sample<V = string> = { [N in MetricName]: SampleOf<N, V> }[MetricName];

export type SampleName = Sample["name"];

export type SampleLabels<S extends SampleName, V = string> = Extract<Sample<V>, { name: S }>["labels"];

interface SampleShape {
  metric: MetricName;
  labels: readonly string[];
}

function shapes(): Map<string, SampleShape> {
  const out = new Map<string, SampleShape>();
  for (const [metric, d] of Object.entries(METRICS) as [MetricName, MetricDeclaration][]) {
    if (d.type !== "histogram") {
      out.set(metric, { metric, labels: d.labels });
      continue;
    }
    out.set(`${metric}_bucket`, { metric, labels: [...d.labels, "le"] });
    out.set(`${metric}_sum`, { metric, labels: d.labels });
    out.set(`${metric}_count`, { metric, labels: d.labels });
  }
  return out;
}

/** Sample name → its metric and label order, for spelling and parsing keys at run time. */
export const SAMPLES: ReadonlyMap<string, SampleShape> = shapes();
